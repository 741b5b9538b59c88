"""wav2sleep: signal encoders -> epoch mixer -> sequence mixer -> classifier."""

from __future__ import annotations

from typing import Mapping

import chex
import jax
import jax.numpy as jnp
from flax import nnx

from wav2sleep_jax.models import cpu_fast_paths
from wav2sleep_jax.models.config import ModelConfig
from wav2sleep_jax.models.encoder import SignalEncoder
from wav2sleep_jax.models.epoch_mixer import EpochMixer
from wav2sleep_jax.models.sequence_mixer import SequenceMixer


def resolve_encoder_impl(cfg: ModelConfig) -> str:
  """'loop' where the CPU fast paths apply (vmapped conv gradients are very slow on
  XLA:CPU), else 'vmap'; an explicit `cfg.encoder_impl` wins."""
  if cfg.encoder_impl != 'auto':
    return cfg.encoder_impl
  return 'loop' if cpu_fast_paths.active() else 'vmap'


def compiler_options(cfg: ModelConfig | None = None) -> dict[str, str]:
  """XLA options for jitted functions of this model on the current backend.

  With `cfg.remat` on CPU the optimisation barriers of `jax.checkpoint` are kept:
  XLA:CPU otherwise expands them before common-subexpression elimination, which
  merges the recomputation back into the forward pass and undoes the remat.
  """
  if (cfg is not None and cfg.remat and jax.default_backend() == 'cpu'
      and cpu_fast_paths.enabled()):
    return {'xla_disable_hlo_passes': 'cse_barrier_expander'}
  return {}


class Wav2Sleep(nnx.Module):
  """Sleep stager over any non-empty subset of `cfg.signals`.

  Call with `x` mapping signal names to raw (normalised) samples [B, S*k] and a
  boolean `mask_BM` over `cfg.signals` (True = present). Signals missing from `x`
  are absent for every night and their encoders are not run. The module holds
  parameters only (no RNG state): dropout randomness is passed per call.
  """

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    self.encoders = nnx.Dict({name: SignalEncoder(name, cfg, rngs=rngs) for name in cfg.signals})
    self.signal_embedding = nnx.Param(
        jax.random.normal(rngs.params(),
                          (len(cfg.signals),
                           cfg.feature_dim))) if cfg.encoder_signal_embedding else None
    self.epoch_mixer = EpochMixer(cfg, rngs=rngs)
    self.sequence_mixer = SequenceMixer(cfg, rngs=rngs)
    self.classifier = nnx.Linear(
        cfg.feature_dim, cfg.num_classes, dtype=jnp.dtype(cfg.dtype), rngs=rngs)

  def encode(self,
             x: Mapping[str, jax.Array],
             valid_epochs_B: jax.Array | None = None) -> dict[str, jax.Array]:
    """Per-signal epoch vectors {name: [B, S, F]} for the signals in `x`."""
    v = valid_epochs_B
    if resolve_encoder_impl(self.cfg) == 'loop':
      if self.cfg.encoder_impl == 'auto':
        with cpu_fast_paths.scope('encoder_loop'):
          return {name: self.encoders[name](x[name], v) for name in x}
      return {name: self.encoders[name](x[name], v) for name in x}
    return self._encode_vmapped(x, v)

  def _encode_vmapped(self, x: Mapping[str, jax.Array],
                      valid_epochs_B: jax.Array | None) -> dict[str, jax.Array]:
    """Stack encoders of identical structure and run each group with vmap."""
    groups: dict[object, list[str]] = {}
    graphdefs, states = {}, {}
    for name in x:
      graphdefs[name], states[name] = nnx.split(self.encoders[name])
      groups.setdefault((graphdefs[name], x[name].shape), []).append(name)
    z = {}
    for (graphdef, _), names in groups.items():
      if len(names) == 1:
        z[names[0]] = self.encoders[names[0]](x[names[0]], valid_epochs_B)
        continue
      state_G = jax.tree.map(lambda *a: jnp.stack(a), *(states[n] for n in names))
      x_GBT = jnp.stack([x[n] for n in names])
      z_GBSF = jax.vmap(lambda st, xi: nnx.merge(graphdef, st)(xi, valid_epochs_B))(state_G, x_GBT)
      z.update({n: z_GBSF[i] for i, n in enumerate(names)})
    return z

  def __call__(self,
               x: Mapping[str, jax.Array],
               mask_BM: jax.Array,
               rngs: nnx.Rngs | None = None,
               valid_epochs_B: jax.Array | None = None) -> jax.Array:
    """Logits [B, S, K]; dropout is active only when `rngs` (a 'dropout' stream) is given.

    `valid_epochs_B` (int32 [B]): each night's length in epochs when it is
    zero-padded to S. The valid epochs' logits then equal those of the unpadded
    night (to float32 rounding; padded epochs' logits are meaningless). None:
    every epoch is valid, the reference's behaviour.
    """
    cfg = self.cfg
    unknown = set(x) - set(cfg.signals)
    if unknown:
      raise ValueError(f'Unknown signals {sorted(unknown)}; model has {cfg.signals}.')
    if not x:
      raise ValueError('At least one signal is required.')
    b = mask_BM.shape[0]
    chex.assert_shape(mask_BM, (b, len(cfg.signals)))
    if valid_epochs_B is not None:
      chex.assert_shape(valid_epochs_B, (b,))
    z = self.encode(x, valid_epochs_B)
    if self.signal_embedding is not None:  # Rows follow cfg.signals.
      z = {n: v + self.signal_embedding[cfg.signals.index(n)].astype(v.dtype) for n, v in z.items()}
    s = next(iter(z.values())).shape[1]
    dtype = jnp.dtype(cfg.dtype)
    zeros_BSF = jnp.zeros((b, s, cfg.feature_dim), dtype)
    # Absent signals get zero vectors (never NaN) and are masked in attention.
    z_BSMF = jnp.stack([
        jnp.where(mask_BM[:, i, None, None], z[name].astype(dtype), 0) if name in z else zeros_BSF
        for i, name in enumerate(cfg.signals)
    ],
                       axis=2)
    present_BM = jnp.stack([
        mask_BM[:, i] if name in z else jnp.zeros((b,), bool) for i, name in enumerate(cfg.signals)
    ],
                           axis=1)
    fused_BSF = self.epoch_mixer(z_BSMF, present_BM, rngs)
    mixed_BSF = self.sequence_mixer(fused_BSF, rngs, valid_epochs_B)
    logits_BSK = self.classifier(mixed_BSF).astype(jnp.float32)
    chex.assert_shape(logits_BSK, (b, s, cfg.num_classes))
    return logits_BSK
