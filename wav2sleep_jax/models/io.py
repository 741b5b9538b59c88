"""Our own model checkpoint format: `model_config.json` + Orbax parameters.

  DIR/model_config.json   ModelConfig fields (JSON)
  DIR/params/             Orbax checkpoint of the pure parameter dict
  DIR/preprocessing.json  the preprocessing the weights expect (`core.preprocessing`)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.models.config import ModelConfig
from wav2sleep_jax.models.wav2sleep import Wav2Sleep

CONFIG_FILE = 'model_config.json'
PARAMS_DIR = 'params'


def config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
  d = dataclasses.asdict(cfg)
  d['encoder_channels'] = {k: list(v) for k, v in cfg.encoder_channels}
  return d


def config_from_dict(d: Mapping[str, Any]) -> ModelConfig:
  known = {f.name for f in dataclasses.fields(ModelConfig)}
  unknown = set(d) - known
  if unknown:
    raise ValueError(f'Unknown model config fields {sorted(unknown)}.')
  d = dict(d)
  for key in ('signals', 'sequence_dilations'):
    if key in d:
      d[key] = tuple(d[key])
  return ModelConfig(**d)


def is_model_checkpoint(path: str | pathlib.Path) -> bool:
  path = pathlib.Path(path)
  return (path / CONFIG_FILE).is_file() and (path / PARAMS_DIR).is_dir()


@functools.lru_cache(maxsize=64)
def _abstract_model(cfg: ModelConfig) -> tuple[nnx.GraphDef, Any]:
  """(graphdef, abstract parameter state), traced once per config (~1 s on CPU)."""
  return nnx.split(nnx.eval_shape(lambda: Wav2Sleep(cfg, rngs=nnx.Rngs(0))))


def graphdef(cfg: ModelConfig) -> nnx.GraphDef:
  """Static structure of the model (pairs with a pure parameter dict in nnx.merge)."""
  return _abstract_model(cfg)[0]


def abstract_params(cfg: ModelConfig) -> dict:
  """Shape/dtype tree of the model's parameters (no allocation)."""
  return _abstract_model(cfg)[1].filter(nnx.Param).to_pure_dict()


def save_model(
    directory: str | pathlib.Path,
    cfg: ModelConfig,
    params: Mapping,
    preprocessing: prep_lib.Preprocessing = prep_lib.Preprocessing()) -> None:
  """Write a model checkpoint (overwrites an existing one at `directory`), with the
  preprocessing its weights expect.

  In a multi-process run every process must call this (Orbax synchronises
  them); only process 0 writes the config file.
  """
  import orbax.checkpoint as ocp

  directory = pathlib.Path(directory).absolute()
  directory.mkdir(parents=True, exist_ok=True)
  if jax.process_index() == 0:
    (directory / CONFIG_FILE).write_text(json.dumps(config_to_dict(cfg), indent=2))
    prep_lib.save(directory, preprocessing)
  params = dict(params)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(directory / PARAMS_DIR, params, force=True)


def load_model_checkpoint(
    directory: str | pathlib.Path,
    sharding: jax.sharding.Sharding | None = None) -> tuple[ModelConfig, dict]:
  """Read (ModelConfig, pure parameter dict) written by `save_model`.

  The parameters land with `sharding` (default: this process's first device),
  whatever devices and processes saved them.
  """
  import orbax.checkpoint as ocp

  directory = pathlib.Path(directory).absolute()
  if not is_model_checkpoint(directory):
    raise FileNotFoundError(f'{directory} is not a wav2sleep_jax model checkpoint '
                            f'(needs {CONFIG_FILE} and {PARAMS_DIR}/).')
  cfg = config_from_dict(json.loads((directory / CONFIG_FILE).read_text()))
  # An explicit sharding: the one stored names the saving run's devices.
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding),
                        abstract_params(cfg))
  with ocp.StandardCheckpointer() as ckptr:
    params = ckptr.restore(directory / PARAMS_DIR, target)
  return cfg, params


def init_params(cfg: ModelConfig, seed: int = 0) -> dict:
  """Random parameters with the reference's (PyTorch default) initialisation.

  Drawn with NumPy on the host: instant, deterministic per seed, and free of
  the per-shape XLA compiles that eager JAX initialisers cost on CPU.
    conv / dense kernels and biases: U(+-1/sqrt(fan_in)) (kaiming_uniform, a=sqrt(5));
    attention q/k/v kernel: xavier uniform; attention biases: 0;
    norms: scale 1, bias 0; CLS and register tokens: N(0, 0.02^2);
    signal embedding: N(0, 1) (torch nn.Embedding).
  """
  rng = np.random.default_rng(seed)
  leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(abstract_params(cfg))
  paths = [
      '/'.join(str(getattr(k, 'key', getattr(k, 'idx', k)))
               for k in path)
      for path, _ in leaves_with_path
  ]
  shapes = [tuple(leaf.shape) for _, leaf in leaves_with_path]
  kernel_fan_in = {
      p.rsplit('/', 1)[0]: int(np.prod(shape[:-1]))
      for p, shape in zip(paths, shapes)
      if p.endswith('/kernel')
  }
  leaves = []
  for path, shape in zip(paths, shapes):
    parent, _, leaf_name = path.rpartition('/')
    is_norm = 'norm' in parent
    if leaf_name in ('cls_token', 'register_tokens'):
      value = 0.02 * rng.standard_normal(shape)
    elif leaf_name == 'signal_embedding':
      value = rng.standard_normal(shape)
    elif leaf_name == 'scale':
      value = np.ones(shape)
    elif leaf_name == 'bias' and (is_norm or parent.endswith(('attn/qkv', 'attn/out'))):
      value = np.zeros(shape)
    elif leaf_name == 'kernel' and parent.endswith('attn/qkv'):
      bound = np.sqrt(6.0 / (shape[0] + shape[1]))
      value = rng.uniform(-bound, bound, shape)
    elif leaf_name in ('kernel', 'bias'):
      bound = 1.0 / np.sqrt(kernel_fan_in[parent])
      value = rng.uniform(-bound, bound, shape)
    else:
      raise ValueError(f'No initialiser for parameter {path}.')
    leaves.append(value.astype(np.float32))
  return jax.tree_util.tree_unflatten(treedef, leaves)


def build_model(cfg: ModelConfig, params: Mapping | None = None, seed: int = 0) -> Wav2Sleep:
  """Wav2Sleep holding `params`, or `init_params(cfg, seed)` when None.

  The module holds only parameters, so an abstract module filled with the
  given values is complete and no JAX initialiser ever runs.
  """
  if params is None:
    params = init_params(cfg, seed)
  params = jax.tree.map(jnp.asarray, dict(params))
  expected = abstract_params(cfg)
  if jax.tree.structure(params) != jax.tree.structure(expected):
    raise ValueError('Parameters do not match the model structure of this config.')
  shapes = jax.tree.map(lambda p, e: p.shape == e.shape, params, expected)
  if not all(jax.tree.leaves(shapes)):
    raise ValueError('Parameter shapes do not match the model of this config.')
  return nnx.merge(graphdef(cfg), params)
