"""Import reference (PyTorch) wav2sleep checkpoints into wav2sleep_jax.

A reference checkpoint is a folder with `config.yaml` (Hydra-style model config
with `_target_` keys) and `state_dict.pth` (a torch state dict). torch is needed
only here (`pip install wav2sleep_jax[torch]`).

  python -m wav2sleep_jax.convert --reference=FOLDER --output=DIR
"""

from __future__ import annotations

import pathlib
import re
from typing import Any, Callable, Mapping

from absl import app
from absl import flags
from absl import logging
import numpy as np

from wav2sleep_jax import model_io
from wav2sleep_jax.models.config import ModelConfig

_REFERENCE_FILES = ('config.yaml', 'state_dict.pth')


class ConversionError(ValueError):
  """A reference checkpoint does not match the wav2sleep_jax model."""


def is_reference_checkpoint(path: str | pathlib.Path) -> bool:
  path = pathlib.Path(path)
  return all((path / f).is_file() for f in _REFERENCE_FILES)


# ----------------------------------------------------------------------------
# config.yaml -> ModelConfig
# ----------------------------------------------------------------------------

def _take(section: dict, key: str, where: str, default: Any = KeyError) -> Any:
  if key in section:
    return section.pop(key)
  if default is KeyError:
    raise ConversionError(f'config.yaml: {where} lacks required field {key!r}.')
  return default


def config_from_reference(raw: Mapping[str, Any]) -> ModelConfig:
  """Translate a reference Hydra model config (parsed YAML) into a ModelConfig.

  Every field must be understood: an unknown field or a value we cannot
  reproduce raises ConversionError instead of being silently ignored.
  """
  raw = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw.items()}
  raw.pop('_target_', None)
  enc = raw.pop('signal_encoders', None)
  mix = raw.pop('epoch_mixer', None)
  seq = raw.pop('sequence_mixer', None)
  if enc is None or mix is None or seq is None:
    raise ConversionError('config.yaml needs signal_encoders, epoch_mixer and '
                          'sequence_mixer sections.')
  for section in (enc, mix, seq):
    section.pop('_target_', None)
  num_classes = int(_take(raw, 'num_classes', 'model'))

  signal_map = dict(_take(enc, 'signal_map', 'signal_encoders'))
  if any(k != v for k, v in signal_map.items()):
    raise ConversionError(f'Renamed signals in signal_map are not supported: {signal_map}.')
  feature_dim = int(_take(enc, 'feature_dim', 'signal_encoders'))
  activation = _take(enc, 'activation', 'signal_encoders', 'gelu')
  norm = _take(enc, 'norm', 'signal_encoders', 'instance')
  enc_causal = bool(_take(enc, 'causal', 'signal_encoders', False))
  if _take(enc, 'chunk_causal', 'signal_encoders', False):
    raise ConversionError('signal_encoders.chunk_causal=true is not supported.')
  cfg = dict(
      signals=tuple(signal_map),
      num_classes=num_classes,
      feature_dim=feature_dim,
      activation=activation,
      encoder_norm=norm,
      encoder_initial_channels=int(_take(enc, 'initial_channels', 'signal_encoders', 16)),
      encoder_max_channels=int(_take(enc, 'max_channels', 'signal_encoders', 128)),
      encoder_output_norm=bool(_take(enc, 'output_norm', 'signal_encoders', False)),
      encoder_residual=bool(_take(enc, 'use_residual', 'signal_encoders', True)),
  )
  for section, name in ((mix, 'epoch_mixer'), (seq, 'sequence_mixer')):
    dim = int(_take(section, 'feature_dim', name, feature_dim))
    if dim != feature_dim:
      raise ConversionError(f'{name}.feature_dim {dim} != encoder feature_dim {feature_dim}.')
    if _take(section, 'activation', name, activation) != activation:
      raise ConversionError(f'{name}.activation differs from the encoders\'.')
  dropout = float(_take(mix, 'dropout', 'epoch_mixer', 0.1))
  seq_dropout = float(_take(seq, 'dropout', 'sequence_mixer', dropout))
  if seq_dropout != dropout:
    raise ConversionError('Different epoch/sequence mixer dropout is not supported.')
  seq_causal = bool(_take(seq, 'causal', 'sequence_mixer', False))
  if seq_causal != enc_causal:
    raise ConversionError('Encoder and sequence mixer must agree on causal.')
  cfg.update(
      dropout=dropout,
      mixer_layers=int(_take(mix, 'layers', 'epoch_mixer', 2)),
      mixer_ff_dim=int(_take(mix, 'dim_ff', 'epoch_mixer', 512)),
      mixer_heads=int(_take(mix, 'nhead', 'epoch_mixer', 8)),
      sequence_norm=_take(seq, 'norm', 'sequence_mixer', 'layer'),
      sequence_blocks=int(_take(seq, 'num_layers', 'sequence_mixer', 2)),
      sequence_kernel_size=int(_take(seq, 'kernel_size', 'sequence_mixer', 7)),
      sequence_dilations=tuple(
          2**i for i in range(int(_take(seq, 'num_dilations', 'sequence_mixer', 6)))),
      causal=enc_causal,
  )
  leftovers = {n: s for n, s in
               (('model', raw), ('signal_encoders', enc), ('epoch_mixer', mix),
                ('sequence_mixer', seq)) if s}
  if leftovers:
    raise ConversionError(f'config.yaml has fields wav2sleep_jax does not understand: {leftovers}.')
  try:
    return ModelConfig(**cfg)
  except ValueError as e:
    raise ConversionError(f'config.yaml describes an unsupported model: {e}') from e


# ----------------------------------------------------------------------------
# state_dict.pth -> parameter tree
# ----------------------------------------------------------------------------

_Transform = Callable[[np.ndarray], np.ndarray]
_conv: _Transform = lambda w: np.transpose(w, (2, 1, 0))  # [out, in, k] -> [k, in, out]
_dense: _Transform = lambda w: np.transpose(w)             # [out, in] -> [in, out]
_flat: _Transform = lambda w: np.reshape(w, (-1,))         # [1, F, 1] -> [F]

# (our parameter path regex, reference key template, transform). Paths are
# '/'-joined keys of the model's pure parameter dict.
_RULES: tuple[tuple[str, str, _Transform], ...] = (
    (r'encoders/(?P<s>[^/]+)/blocks/(?P<i>\d+)/(?P<c>conv\d)/kernel',
     'signal_encoders.encoders.{s}.cnn.{i}.{c}.conv.weight', _conv),
    (r'encoders/(?P<s>[^/]+)/blocks/(?P<i>\d+)/shortcut/kernel',
     'signal_encoders.encoders.{s}.cnn.{i}.downsample.weight', _conv),
    (r'encoders/(?P<s>[^/]+)/proj/kernel', 'signal_encoders.encoders.{s}.linear.weight', _dense),
    (r'encoders/(?P<s>[^/]+)/proj/bias', 'signal_encoders.encoders.{s}.linear.bias', _flat),
    (r'epoch_mixer/cls_token', 'epoch_mixer.register_tokens', _flat),
    (r'epoch_mixer/layers/(?P<i>\d+)/attn/qkv/kernel',
     'epoch_mixer.transformer_encoder.layers.{i}.self_attn.in_proj_weight', _dense),
    (r'epoch_mixer/layers/(?P<i>\d+)/attn/qkv/bias',
     'epoch_mixer.transformer_encoder.layers.{i}.self_attn.in_proj_bias', _flat),
    (r'epoch_mixer/layers/(?P<i>\d+)/attn/out/kernel',
     'epoch_mixer.transformer_encoder.layers.{i}.self_attn.out_proj.weight', _dense),
    (r'epoch_mixer/layers/(?P<i>\d+)/attn/out/bias',
     'epoch_mixer.transformer_encoder.layers.{i}.self_attn.out_proj.bias', _flat),
    (r'epoch_mixer/layers/(?P<i>\d+)/ff(?P<n>\d)/kernel',
     'epoch_mixer.transformer_encoder.layers.{i}.linear{n}.weight', _dense),
    (r'epoch_mixer/layers/(?P<i>\d+)/ff(?P<n>\d)/bias',
     'epoch_mixer.transformer_encoder.layers.{i}.linear{n}.bias', _flat),
    (r'epoch_mixer/layers/(?P<i>\d+)/(?P<n>norm\d)/scale',
     'epoch_mixer.transformer_encoder.layers.{i}.{n}.weight', _flat),
    (r'epoch_mixer/layers/(?P<i>\d+)/(?P<n>norm\d)/bias',
     'epoch_mixer.transformer_encoder.layers.{i}.{n}.bias', _flat),
    (r'sequence_mixer/blocks/(?P<i>\d+)/convs/(?P<j>\d+)/kernel',
     'sequence_mixer.dilated_convs.{i}.conv_layers.{j}.conv.weight', _conv),
    (r'sequence_mixer/blocks/(?P<i>\d+)/norms/(?P<j>\d+)/scale',
     'sequence_mixer.dilated_convs.{i}.conv_layers.{j}.norm.weight', _flat),
    (r'sequence_mixer/blocks/(?P<i>\d+)/norms/(?P<j>\d+)/bias',
     'sequence_mixer.dilated_convs.{i}.conv_layers.{j}.norm.bias', _flat),
    (r'classifier/kernel', 'classifier.weight', _dense),
    (r'classifier/bias', 'classifier.bias', _flat),
)


def _reference_key(path: str) -> tuple[str, _Transform]:
  for pattern, template, transform in _RULES:
    match = re.fullmatch(pattern, path)
    if match:
      return template.format(**match.groupdict()), transform
  raise ConversionError(f'No reference tensor is known for parameter {path!r}.')


def _flatten(tree: Mapping, prefix: str = '') -> dict[str, Any]:
  out = {}
  for k, v in tree.items():
    key = f'{prefix}{k}'
    if isinstance(v, Mapping):
      out.update(_flatten(v, key + '/'))
    else:
      out[key] = v
  return out


def _unflatten(flat: Mapping[str, Any], like: Mapping, prefix: str = '') -> dict:
  return {k: (_unflatten(flat, v, f'{prefix}{k}/') if isinstance(v, Mapping)
              else flat[f'{prefix}{k}']) for k, v in like.items()}


def params_from_state_dict(state_dict: Mapping[str, np.ndarray],
                           params_like: Mapping) -> dict:
  """Map reference tensors onto a pure parameter dict shaped like `params_like`.

  Raises ConversionError listing every reference tensor left unused, every
  parameter without a tensor, and every shape mismatch.
  """
  ours = _flatten(params_like)
  converted, missing, mismatched = {}, [], []
  used = set()
  for path, leaf in ours.items():
    key, transform = _reference_key(path)
    if key not in state_dict:
      missing.append(f'{key} (for {path})')
      continue
    used.add(key)
    value = transform(np.asarray(state_dict[key], dtype=np.float32))
    if value.shape != tuple(leaf.shape):
      mismatched.append(f'{key}: {tuple(state_dict[key].shape)} -> {value.shape}, '
                        f'expected {tuple(leaf.shape)} for {path}')
      continue
    converted[path] = value
  unused = sorted(set(state_dict) - used)
  problems = []
  if missing:
    problems.append('missing reference tensors:\n  ' + '\n  '.join(missing))
  if unused:
    problems.append('unused reference tensors:\n  ' + '\n  '.join(unused))
  if mismatched:
    problems.append('shape mismatches:\n  ' + '\n  '.join(mismatched))
  if problems:
    raise ConversionError('Reference checkpoint does not match the model:\n'
                          + '\n'.join(problems))
  return _unflatten(converted, params_like)


def load_reference(folder: str | pathlib.Path):
  """Read a reference folder -> (ModelConfig, pure parameter dict of numpy arrays)."""
  import yaml

  folder = pathlib.Path(folder)
  if not is_reference_checkpoint(folder):
    raise ConversionError(f'{folder} is not a reference checkpoint folder '
                          f'(needs {" and ".join(_REFERENCE_FILES)}).')
  try:
    import torch
  except ImportError as e:
    raise ImportError('Importing reference checkpoints needs torch: '
                      "pip install 'wav2sleep_jax[torch]'") from e
  with open(folder / 'config.yaml') as f:
    raw = yaml.safe_load(f)
  if not isinstance(raw, Mapping):
    raise ConversionError(f'{folder / "config.yaml"} is not a YAML mapping.')
  cfg = config_from_reference(raw)
  state_dict = torch.load(folder / 'state_dict.pth', map_location='cpu', weights_only=True)
  state_dict = {k: v.detach().cpu().numpy() for k, v in state_dict.items()}
  return cfg, params_from_state_dict(state_dict, model_io.abstract_params(cfg))



def convert_reference(reference: str | pathlib.Path, output: str | pathlib.Path
                      ) -> tuple[ModelConfig, int]:
  """Convert a reference folder into a wav2sleep_jax checkpoint at `output`.

  Returns the model config and its number of parameters.
  """
  cfg, params = load_reference(reference)
  model_io.save_model(output, cfg, params)
  return cfg, sum(int(np.size(v)) for v in _flatten(params).values())


def define_flags() -> None:
  """CLI flags, defined only when run as a program (`load_model` imports this module)."""
  flags.DEFINE_string(
      'reference', None, 'Reference checkpoint folder (config.yaml + state_dict.pth).')
  flags.DEFINE_string('output', None, 'Directory for the wav2sleep_jax checkpoint.')
  flags.mark_flags_as_required(['reference', 'output'])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax is chatty at INFO.
  output = flags.FLAGS.output
  cfg, num_params = convert_reference(flags.FLAGS.reference, output)
  print(f'Wrote {output}: signals {", ".join(cfg.signals)}, '
        f'{cfg.num_classes} classes, {num_params:,} parameters.')


if __name__ == '__main__':
  define_flags()
  app.run(main)
