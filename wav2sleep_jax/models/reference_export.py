"""Export a wav2sleep_jax model as a reference (PyTorch) checkpoint folder.

The exact inverse of `reference.load_reference`: `write_reference(folder, cfg,
params)` writes `config.yaml` + `state_dict.pth` that the reference's
`Wav2Sleep` loads with the same function, and that `load_reference` reads back
as the same config and bit-identical parameters. Settings the reference cannot
express raise `reference.ConversionError` naming the field. Run-time fields
(`dtype`, `remat`, `encoder_impl`, `exact_padding`) are not part of the model
and are not written. Folded batch norms are written as BatchNorm1d with
running_mean 0, running_var float32(1 - eps) and weight = our scale, which
folds back to the same scale bit for bit. Needs no torch.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any, Mapping

import jax
import numpy as np

from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import reference
from wav2sleep_jax.models import torch_state_dict
from wav2sleep_jax.models.config import ModelConfig

_TARGETS = {
    'model': 'wav2sleep.models.wav2sleep.Wav2Sleep',
    'signal_encoders': 'wav2sleep.models.wav2sleep.SignalEncoders',
    'epoch_mixer': 'wav2sleep.models.wav2sleep.MultiModalAttentionEmbedder',
    'sequence_mixer': 'wav2sleep.models.wav2sleep.SequenceCNN',
}
# Constants of the reference's modules (ModelConfig makes them settable).
_INSTANCE_EPS = 1e-2  # Encoder instance norms.
_NORM_EPS = 1e-5  # torch's default: LayerNorm, BatchNorm1d, GroupNorm, ConvLayerNorm...
_NORM_GROUPS = 8  # ConvGroupNorm.
# The mapping of reference.py, inverted here.
_source = reference._source  # pylint: disable=protected-access
_flatten = reference._flatten  # pylint: disable=protected-access
_conv = reference._conv  # pylint: disable=protected-access
_dense = reference._dense  # pylint: disable=protected-access


def _refuse(field: str, value: Any, why: str) -> reference.ConversionError:
  return reference.ConversionError(
      f'{field}={value!r} cannot be written as a reference checkpoint ({why}).')


def _check_expressible(cfg: ModelConfig) -> None:
  """Refuse, by field, every setting the reference's model classes lack."""
  for name, schedule in cfg.encoder_channels:
    if schedule != tuple(
        min(cfg.encoder_initial_channels * 2**(i // 2), cfg.encoder_max_channels)
        for i in range(cfg.num_encoder_blocks(name))):
      raise _refuse('encoder_channels', dict(cfg.encoder_channels),
                    'the reference derives every schedule from initial/max channels')
  if cfg.encoder_downsample != 'stride':
    raise _refuse('encoder_downsample', cfg.encoder_downsample,
                  'the reference downsamples with a stride-2 conv')
  if cfg.encoder_norm in ('instance', 'auto') and cfg.instance_norm_eps != _INSTANCE_EPS:
    raise _refuse('instance_norm_eps', cfg.instance_norm_eps, f'the reference uses {_INSTANCE_EPS}')
  if cfg.layer_norm_eps != _NORM_EPS:
    raise _refuse('layer_norm_eps', cfg.layer_norm_eps, f'the reference uses {_NORM_EPS}')
  if 'group' in (cfg.encoder_norm, cfg.sequence_norm) and cfg.group_norm_groups != _NORM_GROUPS:
    raise _refuse('group_norm_groups', cfg.group_norm_groups,
                  f'the reference uses {_NORM_GROUPS} groups')
  if cfg.causal and cfg.causal_mode == 'streaming':
    raise _refuse('causal_mode', cfg.causal_mode,
                  "causal reference encoders are 'chunked' or 'conv'")
  powers = tuple(2**i for i in range(len(cfg.sequence_dilations)))
  if cfg.sequence_dilations != powers:
    raise _refuse('sequence_dilations', cfg.sequence_dilations,
                  'the reference uses dilations 1, 2, 4, ... (num_dilations)')


def _norm_name(norm: str) -> str | None:
  return None if norm == 'none' else norm  # YAML null: the reference's "no norm".


def reference_config(cfg: ModelConfig) -> dict[str, Any]:
  """The reference's config.yaml content (a dict) for `cfg`; refuses what it cannot say."""
  _check_expressible(cfg)
  f = cfg.feature_dim
  sequence_dropout = cfg.dropout if cfg.sequence_dropout is None else cfg.sequence_dropout
  return {
      '_target_': _TARGETS['model'],
      'num_classes': cfg.num_classes,
      'signal_encoders': {
          '_target_': _TARGETS['signal_encoders'],
          'signal_map': {
              s: s for s in cfg.signals
          },  # One encoder per signal, own name.
          'feature_dim': f,
          'activation': cfg.activation,
          'norm': _norm_name(cfg.encoder_norm),
          'causal': cfg.causal,
          'chunk_causal': cfg.causal and cfg.causal_mode == 'chunked',
          'embed_signals': cfg.encoder_signal_embedding,
          'initial_channels': cfg.encoder_initial_channels,
          'max_channels': cfg.encoder_max_channels,
          'output_norm': cfg.encoder_output_norm,
          'use_residual': cfg.encoder_residual
      },
      'epoch_mixer': {
          '_target_': _TARGETS['epoch_mixer'],
          'feature_dim': f,
          'layers': cfg.mixer_layers,
          'dropout': float(cfg.dropout),
          'dim_ff': cfg.mixer_ff_dim,
          'activation': cfg.part_activation('mixer'),
          'norm_first': cfg.mixer_norm_first,
          'nhead': cfg.mixer_heads,
          'register_tokens': cfg.mixer_register_tokens
      },
      'sequence_mixer': {
          '_target_': _TARGETS['sequence_mixer'],
          'feature_dim': f,
          'dropout': float(sequence_dropout),
          'num_layers': cfg.sequence_blocks,
          'activation': cfg.part_activation('sequence'),
          'norm': _norm_name(cfg.sequence_norm),
          'causal': cfg.sequence_is_causal,
          'num_dilations': len(cfg.sequence_dilations),
          'kernel_size': cfg.sequence_kernel_size
      },
  }


def _batch_norm_var(eps: float) -> np.float32:
  """running_var making the reference's folded scale w / sqrt(var + eps) exactly w.

  float32(1 - eps) puts sqrt(var + eps) within 1e-8 of 1 (for eps = 1e-5), under
  half an ulp of any float32 weight, so float32(w / sqrt(var + eps)) == w always.
  (running_var = 1 with w = scale * sqrt(1 + eps) cannot hit every scale exactly.)
  """
  var = np.float32(1.0 - eps)
  if abs(np.sqrt(np.float64(var) + eps) - 1.0) >= 2.0**-26:
    raise reference.ConversionError(f'batch norm eps={eps} has no exact float32 running_var.')
  return var


# Conv-layer norms of the reference's ConvLayerNorm / ConvRMSNorm hold [1, C, 1].
_CONV_NORM = re.compile(r'\.(conv\d|conv_layers\.\d+)\.norm\.(weight|bias)$')


def _tensors_of(path: str, value: np.ndarray, cfg: ModelConfig,
                names: Mapping[str, str]) -> dict[str, np.ndarray]:
  """Reference tensors of one parameter (tokens are packed by the caller)."""
  src = _source(path, cfg, names)
  if src.optional:  # Eval-mode BatchNorm1d: neutral statistics, the affine carries it.
    prefix = src.optional[0].rsplit('.', 1)[0]
    if path.endswith('/bias'):
      return {f'{prefix}.bias': value}
    channels = value.shape[0]
    return {
        f'{prefix}.weight': value,
        f'{prefix}.running_mean': np.zeros(channels, np.float32),
        f'{prefix}.running_var': np.full(channels, _batch_norm_var(cfg.layer_norm_eps)),
        f'{prefix}.num_batches_tracked': np.zeros((), np.int64)
    }
  (key,) = src.keys
  if path == 'signal_embedding':  # nn.Embedding rows follow the sorted signal names.
    return {key: value[[cfg.signals.index(s) for s in sorted(cfg.signals)]]}
  if src.fn is _conv:
    return {key: np.transpose(value, (2, 1, 0))}  # [k, in, out] -> [out, in, k]
  if src.fn is _dense:
    return {key: np.transpose(value)}  # [in, out] -> [out, in]
  if _CONV_NORM.search(key):
    return {key: np.reshape(value, (1, -1, 1))}
  return {key: value}


def _check_params(cfg: ModelConfig, flat: Mapping[str, np.ndarray]) -> None:
  expected = _flatten(model_io.abstract_params(cfg))
  missing = sorted(set(expected) - set(flat))
  extra = sorted(set(flat) - set(expected))
  shaped = sorted(
      p for p in set(flat) & set(expected) if np.shape(flat[p]) != tuple(expected[p].shape))
  if missing or extra or shaped:
    first = (missing or extra or shaped)[0]
    raise reference.ConversionError(
        f'parameters do not match the model of this config ({len(missing)} missing, '
        f'{len(extra)} unexpected, {len(shaped)} mis-shaped; first: {first}).')
  bad = [p for p, v in flat.items() if not np.isfinite(v).all()]
  if bad:  # load_reference would refuse them.
    raise reference.ConversionError(f'parameter {bad[0]} has non-finite values (NaN or inf).')


# Module and tensor names in the order the reference's modules register them.
_REGISTRATION_ORDER = {
    name: i
    for i, name in enumerate(('signal_encoders', 'encoders', 'cnn', 'conv1', 'conv2', 'conv3',
                              'downsample', 'conv', 'norm', 'linear', 'output_norm', 'embedder',
                              'epoch_mixer', 'register_tokens', 'transformer_encoder', 'layers',
                              'self_attn', 'in_proj_weight', 'in_proj_bias', 'out_proj', 'linear1',
                              'linear2', 'norm1', 'norm2', 'sequence_mixer', 'dilated_convs',
                              'conv_layers', 'classifier', 'weight', 'bias', 'running_mean',
                              'running_var', 'num_batches_tracked'))
}


def _registration_rank(key: str, signals: tuple[str, ...]) -> tuple:
  """Sort key giving torch's state_dict order (encoders in signal_map order)."""
  return tuple((0, int(part)) if part.isdigit() else (
      1, signals.index(part)) if part in signals else (2, _REGISTRATION_ORDER[part])
               for part in key.split('.'))


def to_reference(cfg: ModelConfig, params: Mapping) -> tuple[dict, dict[str, np.ndarray]]:
  """(config.yaml content, torch state dict as numpy arrays) of a model of ours."""
  config = reference_config(cfg)
  flat = {p: np.asarray(jax.device_get(v), np.float32) for p, v in _flatten(params).items()}
  _check_params(cfg, flat)
  names = {s: s for s in cfg.signals}
  state: dict[str, np.ndarray] = {}
  for path, value in flat.items():
    if path.startswith('epoch_mixer/') and path.endswith(('/cls_token', '/register_tokens')):
      continue
    state.update(_tensors_of(path, value, cfg, names))
  # [1, 1, F, 1 + R]: the CLS token first, then the register tokens.
  tokens_FD = np.concatenate([
      flat['epoch_mixer/cls_token'][:, None],
      flat.get('epoch_mixer/register_tokens', np.zeros((0, cfg.feature_dim), np.float32)).T
  ],
                             axis=1)
  state['epoch_mixer.register_tokens'] = tokens_FD[None, None]
  ordered = sorted(state, key=lambda k: _registration_rank(k, cfg.signals))
  return config, {k: np.array(state[k], order='C') for k in ordered}


def write_reference(folder: str | pathlib.Path, cfg: ModelConfig, params: Mapping) -> None:
  """Write `folder`/config.yaml + `folder`/state_dict.pth (the reference's format)."""
  import yaml

  config, state = to_reference(cfg, params)
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  (folder / 'config.yaml').write_text(yaml.safe_dump(config, sort_keys=False))
  torch_state_dict.write_state_dict(folder / 'state_dict.pth', state)
