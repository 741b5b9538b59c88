"""Public inference API: load a model and stage nights from arrays.

  model = wav2sleep_jax.load_model('path/to/checkpoint')
  logits_BSK = model.logits({'ECG': ecg_BT, 'THX': thx_BT})
  stages_BS = model.predict({'ECG': ecg_BT})

Arrays are [B, S * samples_per_epoch] per signal (ECG/PPG 1024, ABD/THX 256,
EOG 4096 samples per 30-s epoch). A signal left out of the dict is absent for
every night; a row that is entirely -inf or NaN marks that night's signal absent.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.core import stages
from wav2sleep_jax.data import normalize as normalize_lib
from wav2sleep_jax.models import cpu_fast_paths
from wav2sleep_jax.models import hub_client as hub_lib
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import model_files
from wav2sleep_jax.models import wav2sleep
from wav2sleep_jax.models.config import ModelConfig


def softmax(logits_K: np.ndarray) -> np.ndarray:
  """Class probabilities of logits on the host, along the last axis (NumPy, dtype kept)."""
  z_K = logits_K - logits_K.max(axis=-1, keepdims=True)
  e_K = np.exp(z_K)
  return e_K / e_K.sum(axis=-1, keepdims=True)


def _forward(graphdef, state, x, mask_BM, valid_B=None):
  run = lambda st, x, mask_BM, v: nnx.merge(graphdef, st)(x, mask_BM, valid_epochs_B=v)
  return cpu_fast_paths.per_platform(run)(state, x, mask_BM, valid_B)


@functools.cache
def _jitted_forward():
  return jax.jit(_forward, static_argnums=0, compiler_options=wav2sleep.compiler_options())


def _apply(graphdef, state, x, mask_BM, valid_B=None):
  """Eval-mode forward pass; compiled once per model structure and input shapes."""
  return _jitted_forward()(graphdef, state, x, mask_BM, valid_B)


def compilations() -> int:
  """Executables compiled so far by `StagingModel.logits` (all models of the process)."""
  return _jitted_forward()._cache_size()  # pylint: disable=protected-access


class StagingModel:
  """A trained wav2sleep model with a jit-compiled forward pass (eval mode)."""

  hub: hub_lib.HubModel | None = None  # Set by `load_model` for an hf:// model.

  def __init__(self,
               cfg: ModelConfig,
               params: Mapping,
               preprocessing: prep_lib.Preprocessing = prep_lib.Preprocessing()):
    self.config = cfg
    self.preprocessing = preprocessing  # What the weights expect (`core.preprocessing`).
    model = model_io.build_model(cfg, params)
    self._graphdef, self._state = nnx.split(model)

  @property
  def signals(self) -> tuple[str, ...]:
    return self.config.signals

  @property
  def stage_names(self) -> tuple[str, ...]:
    return stages.stage_names(self.config.num_classes)

  @property
  def params(self) -> dict:
    return self._state.filter(nnx.Param).to_pure_dict()

  def forward(self,
              x: Mapping[str, jax.Array],
              mask_BM: jax.Array,
              valid_epochs_B: jax.Array | None = None) -> jax.Array:
    """Traceable eval-mode forward pass, no input checks (for jax.jit / jax.export)."""
    return _forward(self._graphdef, self._state, x, mask_BM, valid_epochs_B)

  def prepare(self,
              signals: Mapping[str, np.ndarray],
              normalize: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Validate inputs -> (finite arrays, mask [B, M] over self.signals, epochs)."""
    if not isinstance(signals, Mapping) or not signals:
      raise ValueError('signals must be a non-empty dict {signal name: [B, T] array}; '
                       f'this model accepts {list(self.signals)}.')
    unknown = [n for n in signals if n not in self.signals]
    if unknown:
      raise ValueError(f'Unknown signal(s) {unknown}; this model accepts {list(self.signals)}.')
    x, present, batch, epochs = {}, {}, None, None
    for name, value in signals.items():
      arr = np.asarray(value, dtype=np.float32)
      if arr.ndim != 2:
        raise ValueError(f'{name}: expected a [nights, samples] array, got shape {arr.shape}.')
      k = signals_lib.samples_per_epoch(name)
      b, t = arr.shape
      if t == 0 or t % k:
        raise ValueError(f'{name}: {t} samples is not a whole number of 30-s epochs '
                         f'({k} samples per epoch for {name}).')
      if batch is None:
        batch, epochs, first = b, t // k, name
      elif b != batch:
        raise ValueError(f'{name} has {b} nights but {first} has {batch}.')
      elif t // k != epochs:
        raise ValueError(f'{name} covers {t // k} epochs but {first} covers {epochs}; '
                         'all signals must span the same epochs.')
      finite = np.isfinite(arr)
      row_present = finite.all(axis=1)
      partial = ~row_present & finite.any(axis=1)
      if partial.any():
        nights = np.flatnonzero(partial).tolist()
        raise ValueError(f'{name}: night(s) {nights} mix finite and non-finite samples; a '
                         'row must be all finite (present) or all -inf/NaN (absent).')
      if normalize:
        arr = normalize_lib.zscore(arr)
      x[name] = np.where(row_present[:, None], arr, 0.0).astype(np.float32)
      present[name] = row_present
    mask_BM = np.stack([present.get(n, np.zeros(batch, bool)) for n in self.signals], axis=1)
    empty = np.flatnonzero(~mask_BM.any(axis=1))
    if empty.size:
      raise ValueError(f'Night(s) {empty.tolist()} have no present signal '
                       f'(every given signal is absent there).')
    return x, mask_BM, epochs

  def logits(self,
             signals: Mapping[str, np.ndarray],
             normalize: bool = False,
             valid_epochs: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Logits [B, S, K] (float32). `normalize=True` z-scores each night first.

    `valid_epochs` ([B] ints): nights zero-padded to S epochs; each night's first
    valid_epochs[b] epochs get the logits of the unpadded night (exact padding),
    the rest are meaningless. Not combined with `normalize` (normalise before padding).
    """
    x, mask_BM, epochs = self.prepare(signals, normalize=normalize)
    valid_B = None
    if valid_epochs is not None:
      if normalize:
        raise ValueError('valid_epochs: normalise nights before padding them '
                         '(normalize=True would include the padding).')
      valid_B = np.asarray(valid_epochs)
      if (valid_B.shape != (mask_BM.shape[0],) or not np.issubdtype(valid_B.dtype, np.integer)
          or valid_B.min() < 1 or valid_B.max() > epochs):
        raise ValueError(f'valid_epochs must be {mask_BM.shape[0]} integers in [1, {epochs}], '
                         f'got {valid_B.tolist()}.')
      valid_B = jnp.asarray(valid_B, jnp.int32)
    # Only signals present in at least one night enter the network.
    x = {n: jnp.asarray(v) for n, v in x.items() if mask_BM[:, self.signals.index(n)].any()}
    return np.asarray(_apply(self._graphdef, self._state, x, jnp.asarray(mask_BM), valid_B))

  def probabilities(self, signals: Mapping[str, np.ndarray], normalize: bool = False) -> np.ndarray:
    """Softmax class probabilities [B, S, K]."""
    return softmax(self.logits(signals, normalize))

  def predict(self, signals: Mapping[str, np.ndarray], normalize: bool = False) -> np.ndarray:
    """Most likely stage per epoch [B, S] (int; see `stage_names`)."""
    return self.logits(signals, normalize).argmax(axis=-1)


def load_model(path: str | pathlib.Path, dtype: str | None = None) -> StagingModel:
  """Load a reference checkpoint folder (config.yaml + state_dict.pth) or one of ours.

  Args:
    path: folder of a reference checkpoint or a wav2sleep_jax model checkpoint, or a
      Hub model 'hf://namespace/name[@revision]' (either kind; see `models.hub_client`).
    dtype: optional compute dtype override ('float32' or 'bfloat16').
  """
  loaded = model_files.read_model(path)
  cfg = loaded.config
  if dtype is not None:
    cfg = cfg.replace(dtype=dtype)
  staging_model = StagingModel(cfg, loaded.params, loaded.preprocessing)
  staging_model.hub = loaded.hub
  return staging_model
