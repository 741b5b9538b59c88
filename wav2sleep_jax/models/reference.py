"""Import reference (PyTorch) wav2sleep checkpoints into wav2sleep_jax.

A reference checkpoint is a folder with `config.yaml` (Hydra-style model config
with `_target_` keys) and `state_dict.pth` (a torch state dict, read without torch
by `torch_state_dict`). Every field of the reference's model classes is either
reproduced exactly or refused by name (README, "Reference (PyTorch) checkpoints");
a missing field takes the reference's default. `reference_export` writes the
reverse direction.

Command: `python -m wav2sleep_jax.convert --reference=FOLDER --output=DIR`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any, Callable, Mapping

import numpy as np

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import torch_state_dict
from wav2sleep_jax.models.config import ModelConfig

_REFERENCE_FILES = ('config.yaml', 'state_dict.pth')


class ConversionError(cli.InputError):
  """A reference checkpoint that wav2sleep_jax cannot reproduce exactly."""


def is_reference_checkpoint(path: str | pathlib.Path) -> bool:
  path = pathlib.Path(path)
  return all((path / f).is_file() for f in _REFERENCE_FILES)


# ----------------------------------------------------------------------------
# config.yaml -> ModelConfig
# ----------------------------------------------------------------------------

_REQUIRED = object()
# Reference spelling -> ours. 'swish' is the reference's alias of 'silu'.
_ACTIVATIONS = {
    'gelu': 'gelu',
    'relu': 'relu',
    'leaky': 'leaky',
    'silu': 'silu',
    'swish': 'silu',
    'linear': 'linear'
}
# YAML null is the reference's "no norm" (its convs then get a bias).
_NORMS = {
    'instance': 'instance',
    'layer': 'layer',
    'rms': 'rms',
    'group': 'group',
    'batch': 'batch',
    None: 'none'
}
_SECTIONS = {
    'model': 'Wav2Sleep',
    'signal_encoders': 'SignalEncoders',
    'epoch_mixer': 'MultiModalAttentionEmbedder',
    'sequence_mixer': 'SequenceCNN'
}


class _Section:
  """One config.yaml section; each field is taken once, type-checked strictly."""

  def __init__(self, raw: Any, name: str):
    if not isinstance(raw, Mapping):
      raise ConversionError(f'section {name!r} must be a mapping, got {type(raw).__name__}.')
    self.name, self.raw = name, dict(raw)
    target = self.raw.pop('_target_', None)
    expected = _SECTIONS[name]
    if target is not None and (not isinstance(target, str)
                               or target.rsplit('.', 1)[-1] != expected):
      raise ConversionError(f'{name}._target_={target!r} is not supported '
                            f'(expected the reference\'s {expected}).')

  def _get(self, key: str, default: Any) -> Any:
    if key in self.raw:
      return self.raw.pop(key)
    if default is _REQUIRED:
      raise ConversionError(f'{self.name} lacks required field {key!r}.')
    return default

  def _bad(self, key: str, value: Any, want: str) -> ConversionError:
    return ConversionError(f'{self.name}.{key}={value!r} is not supported ({want}).')

  def bool(self, key: str, default: Any = _REQUIRED) -> bool:
    value = self._get(key, default)
    if not isinstance(value, bool):
      raise self._bad(key, value, 'expected true or false')
    return value

  def int(self, key: str, default: Any = _REQUIRED, minimum: int = 1) -> int:
    value = self._get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
      raise self._bad(key, value, f'expected an integer >= {minimum}')
    return value

  def rate(self, key: str, default: Any = _REQUIRED) -> float:
    value = self._get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
      raise self._bad(key, value, 'expected a number in [0, 1]')
    return float(value)

  def choice(self, key: str, choices: Mapping[Any, str], default: Any = _REQUIRED) -> str:
    value = self._get(key, default)
    if not isinstance(value, (str, type(None))) or value not in choices:
      names = ', '.join('null' if c is None else c for c in choices)
      raise self._bad(key, value, f'supported: {names}')
    return choices[value]

  def leftovers(self) -> list[str]:
    return [f'{self.name}.{k}' for k in self.raw]


def _signals(enc: _Section) -> tuple[tuple[str, ...], dict[str, str]]:
  """signal_map -> (signals, {signal: reference encoder name})."""
  signal_map = enc._get('signal_map', _REQUIRED)
  if not isinstance(signal_map, Mapping) or not signal_map:
    raise enc._bad('signal_map', signal_map, 'expected a non-empty mapping')
  for signal, encoder in signal_map.items():
    if signal not in signals_lib.SAMPLES_PER_EPOCH:
      raise ConversionError(f'signal_encoders.signal_map: unknown signal {signal!r} '
                            f'(known: {", ".join(signals_lib.SAMPLES_PER_EPOCH)}).')
    if not isinstance(encoder, str):
      raise enc._bad('signal_map', dict(signal_map), 'encoder names must be strings')
  shared = [e for e in set(signal_map.values()) if list(signal_map.values()).count(e) > 1]
  if shared:
    raise ConversionError(f'signal_encoders.signal_map shares encoder {shared[0]!r} between '
                          'signals; shared encoders are not supported.')
  return tuple(signal_map), dict(signal_map)


def _encoder_fields(enc: _Section) -> dict[str, Any]:
  """signal_encoders -> ModelConfig fields (reference defaults for missing ones)."""
  norm = enc.choice('norm', {**_NORMS, 'auto': 'auto'}, 'instance')
  causal = enc.bool('causal', False)
  chunk_causal = enc.bool('chunk_causal', True)  # The reference's default.
  return dict(
      feature_dim=enc.int('feature_dim'),
      activation=enc.choice('activation', _ACTIVATIONS),
      encoder_norm=norm,
      causal=causal,
      causal_mode='chunked' if chunk_causal else 'conv',
      encoder_signal_embedding=enc.bool('embed_signals', False),
      encoder_initial_channels=enc.int('initial_channels', 16),
      encoder_max_channels=enc.int('max_channels', 128),
      encoder_output_norm=enc.bool('output_norm', False),
      encoder_residual=enc.bool('use_residual', True),
  )


def _mixer_fields(mix: _Section) -> dict[str, Any]:
  """epoch_mixer -> ModelConfig fields (reference defaults for missing ones)."""
  return dict(
      mixer_feature_dim=mix.int('feature_dim'),
      mixer_layers=mix.int('layers', 4),
      dropout=mix.rate('dropout', 0.0),
      mixer_ff_dim=mix.int('dim_ff', 512),
      mixer_activation=mix.choice('activation', _ACTIVATIONS, 'gelu'),
      mixer_norm_first=mix.bool('norm_first', True),
      mixer_heads=mix.int('nhead', 4),
      mixer_register_tokens=mix.int('register_tokens', 0, minimum=0),
  )


def _sequence_fields(seq: _Section) -> dict[str, Any]:
  """sequence_mixer -> ModelConfig fields (reference defaults for missing ones)."""
  return dict(
      sequence_feature_dim=seq.int('feature_dim', 128),
      sequence_dropout=seq.rate('dropout', 0.2),
      sequence_blocks=seq.int('num_layers', 2, minimum=0),
      sequence_activation=seq.choice('activation', _ACTIVATIONS, 'gelu'),
      sequence_norm=seq.choice('norm', _NORMS, 'batch'),
      sequence_causal=seq.bool('causal', False),
      sequence_dilations=tuple(2**i for i in range(seq.int('num_dilations', 6))),
      sequence_kernel_size=seq.int('kernel_size', 7),
  )


def _parse_config(raw: Any) -> tuple[ModelConfig, dict[str, str]]:
  """Reference config -> (ModelConfig, {signal: reference encoder name})."""
  top = _Section(raw, 'model')
  enc = _Section(top._get('signal_encoders', _REQUIRED), 'signal_encoders')
  mix = _Section(top._get('epoch_mixer', _REQUIRED), 'epoch_mixer')
  seq = _Section(top._get('sequence_mixer', _REQUIRED), 'sequence_mixer')
  num_classes = top.int('num_classes', minimum=2)
  signals, encoder_names = _signals(enc)
  fields = {**_encoder_fields(enc), **_mixer_fields(mix), **_sequence_fields(seq)}
  leftovers = top.leftovers() + enc.leftovers() + mix.leftovers() + seq.leftovers()
  if leftovers:
    raise ConversionError(f'unknown fields {", ".join(leftovers)} (not in the reference '
                          'model this converter reproduces).')
  f = fields['feature_dim']
  for part in ('mixer', 'sequence'):
    dim = fields.pop(f'{part}_feature_dim')
    if dim != f:
      section = 'epoch_mixer' if part == 'mixer' else 'sequence_mixer'
      raise ConversionError(f'{section}.feature_dim={dim} differs from signal_encoders.'
                            f'feature_dim={f} (the reference model cannot run).')
  if f % fields['mixer_heads']:
    raise ConversionError(f'epoch_mixer.nhead={fields["mixer_heads"]} does not divide '
                          f'feature_dim={f}.')
  if fields['sequence_kernel_size'] % 2 == 0 and not fields['sequence_causal']:
    raise ConversionError(f'sequence_mixer.kernel_size={fields["sequence_kernel_size"]} '
                          'is even: the reference\'s non-causal residual add fails.')
  if not fields['causal']:
    del fields['causal_mode']  # chunk_causal only matters for causal encoders.
  seq_causal = fields.pop('sequence_causal')
  fields['sequence_causal'] = None if seq_causal == fields['causal'] else seq_causal
  try:
    cfg = ModelConfig(signals=signals, num_classes=num_classes, **fields)
  except ValueError as e:
    raise ConversionError(f'unsupported model: {e}') from None
  return cfg, encoder_names


def config_from_reference(raw: Any) -> ModelConfig:
  """Translate a reference Hydra model config (parsed YAML) into a ModelConfig.

  Every field must be understood: an unknown field, a wrong type or a value we
  cannot reproduce raises ConversionError naming the field and the value.
  """
  return _parse_config(raw)[0]


# ----------------------------------------------------------------------------
# state_dict.pth -> parameter tree
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Source:
  """Reference tensors one of our parameters is computed from, and how."""
  keys: tuple[str, ...]
  fn: Callable[..., np.ndarray]
  optional: tuple[str, ...] = ()  # Consumed when present (e.g. num_batches_tracked).


_conv = lambda w: np.transpose(w, (2, 1, 0))  # [out, in, k] -> [k, in, out]
_dense = lambda w: np.transpose(w)  # [out, in] -> [in, out]


def _flat(w: np.ndarray) -> np.ndarray:
  """[1, F, 1] or [F] -> [F]; any other layout is a shape mismatch."""
  if sum(d != 1 for d in np.shape(w)) > 1:
    raise ValueError(f'not a vector: {np.shape(w)}')
  return np.reshape(w, (-1,))


def _exact_len(size: int, axis: int, fn: Callable[[np.ndarray], np.ndarray]):
  """fn, refusing a tensor whose `axis` is not `size` long (nothing dropped)."""

  def checked(t):
    if t.shape[axis] != size:
      raise ValueError(f'{t.shape[axis]} != {size}')
    return fn(t)

  return checked


def _one(key: str, fn=_flat) -> _Source:
  return _Source((key,), fn)


def _norm(prefix: str, kind: str, leaf: str, eps: float) -> _Source:
  """Our norm `leaf` ('scale' / 'bias') from the reference's norm module `prefix`."""
  torch_leaf = 'weight' if leaf == 'scale' else 'bias'
  if kind == 'group':  # ConvGroupNorm wraps nn.GroupNorm as `.norm`.
    return _one(f'{prefix}.norm.{torch_leaf}')
  if kind != 'batch':
    return _one(f'{prefix}.{torch_leaf}')
  # Eval-mode BatchNorm1d folded: y = x * w / sqrt(var + eps) + (b - mean * scale).
  w, b, mean, var = (f'{prefix}.{n}' for n in ('weight', 'bias', 'running_mean', 'running_var'))
  scale = lambda w_, v_: w_ / np.sqrt(v_.astype(np.float64) + eps)
  tracked = (f'{prefix}.num_batches_tracked',)
  if leaf == 'scale':
    return _Source((w, var), scale, tracked)
  return _Source((w, b, mean, var), lambda w_, b_, m_, v_: b_ - m_ * scale(w_, v_), tracked)


def _encoder_source(m: re.Match, cfg: ModelConfig, names: Mapping[str, str]) -> _Source:
  s, rest = m['s'], m['rest']
  pre = f'signal_encoders.encoders.{names.get(s, s)}'
  if r := re.fullmatch(r'blocks/(\d+)/conv(\d)/(kernel|bias)', rest):
    fn = _conv if r[3] == 'kernel' else _flat
    return _one(f'{pre}.cnn.{r[1]}.conv{r[2]}.conv.{"weight" if r[3] == "kernel" else "bias"}', fn)
  if r := re.fullmatch(r'blocks/(\d+)/shortcut/kernel', rest):
    return _one(f'{pre}.cnn.{r[1]}.downsample.weight', _conv)
  if r := re.fullmatch(r'blocks/(\d+)/norm(\d)/(scale|bias)', rest):
    return _norm(f'{pre}.cnn.{r[1]}.conv{r[2]}.norm', cfg.block_norm(int(r[1])), r[3],
                 cfg.layer_norm_eps)
  if r := re.fullmatch(r'proj/(kernel|bias)', rest):
    return _one(f'{pre}.linear.{"weight" if r[1] == "kernel" else "bias"}',
                _dense if r[1] == 'kernel' else _flat)
  if r := re.fullmatch(r'out_norm/(scale|bias)', rest):
    return _one(f'{pre}.output_norm.{"weight" if r[1] == "scale" else "bias"}')
  raise KeyError(rest)


def _mixer_source(m: re.Match, cfg: ModelConfig, names: Mapping[str, str]) -> _Source:
  del names
  rest = m['rest']
  tokens = 1 + cfg.mixer_register_tokens
  if rest == 'cls_token':  # [1, 1, F, 1 + R]: CLS first, then the register tokens.
    return _one('epoch_mixer.register_tokens', _exact_len(tokens, -1, lambda t: t[0, 0, :, 0]))
  if rest == 'register_tokens':
    return _one('epoch_mixer.register_tokens',
                _exact_len(tokens, -1, lambda t: np.transpose(t[0, 0, :, 1:])))
  r = re.fullmatch(r'layers/(\d+)/(attn/qkv|attn/out|ff1|ff2|norm1|norm2)/(\w+)', rest)
  if r is None:
    raise KeyError(rest)
  module = {
      'attn/qkv': 'self_attn.in_proj_',
      'attn/out': 'self_attn.out_proj.',
      'ff1': 'linear1.',
      'ff2': 'linear2.'
  }.get(r[2], f'{r[2]}.')
  leaf = 'weight' if r[3] in ('kernel', 'scale') else 'bias'
  return _one(f'epoch_mixer.transformer_encoder.layers.{r[1]}.{module}{leaf}',
              _dense if r[3] == 'kernel' else _flat)


def _sequence_source(m: re.Match, cfg: ModelConfig, names: Mapping[str, str]) -> _Source:
  del names
  r = re.fullmatch(r'blocks/(\d+)/(convs|norms)/(\d+)/(kernel|bias|scale)', m['rest'])
  if r is None:
    raise KeyError(m['rest'])
  pre = f'sequence_mixer.dilated_convs.{r[1]}.conv_layers.{r[3]}'
  if r[2] == 'norms':
    return _norm(f'{pre}.norm', cfg.sequence_norm, r[4], cfg.layer_norm_eps)
  if r[4] == 'kernel':
    return _one(f'{pre}.conv.weight', _conv)
  return _one(f'{pre}.conv.bias')


def _top_source(m: re.Match, cfg: ModelConfig, names: Mapping[str, str]) -> _Source:
  rest = m['rest']
  if rest == 'signal_embedding':  # nn.Embedding rows follow the sorted signal names.
    order = [sorted(cfg.signals).index(s) for s in cfg.signals]
    return _one('signal_encoders.embedder.weight', _exact_len(len(order), 0, lambda w: w[order]))
  if r := re.fullmatch(r'classifier/(kernel|bias)', rest):
    return _one(f'classifier.{"weight" if r[1] == "kernel" else "bias"}',
                _dense if r[1] == 'kernel' else _flat)
  raise KeyError(rest)


_RULES = ((r'encoders/(?P<s>[^/]+)/(?P<rest>.+)', _encoder_source), (r'epoch_mixer/(?P<rest>.+)',
                                                                     _mixer_source),
          (r'sequence_mixer/(?P<rest>.+)', _sequence_source), (r'(?P<rest>.+)', _top_source))


def _source(path: str, cfg: ModelConfig, names: Mapping[str, str] | None = None) -> _Source:
  """Where parameter `path` ('/'-joined) comes from in a reference state dict."""
  for pattern, rule in _RULES:
    if m := re.fullmatch(pattern, path):
      try:
        return rule(m, cfg, names or {})
      except KeyError:
        break
  raise AssertionError(f'No reference tensor is known for parameter {path!r}.')


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
  return {
      k: (_unflatten(flat, v, f'{prefix}{k}/') if isinstance(v, Mapping) else flat[f'{prefix}{k}'])
      for k, v in like.items()
  }


def _mismatch_error(missing, unused, mismatched) -> ConversionError:
  """One summary line (what the CLI prints), then every problem."""
  counts = [
      f'{len(v)} {n}' for v, n in ((missing, 'missing'), (unused, 'unused'), (mismatched,
                                                                              'mis-shaped')) if v
  ]
  first = (missing or unused or mismatched)[0]
  lines = [
      f'state dict does not match config.yaml ({", ".join(counts)} tensors; '
      f'first: {first})'
  ]
  for items, title in ((missing, 'missing reference tensors'), (unused, 'unused reference tensors'),
                       (mismatched, 'shape mismatches')):
    if items:
      lines.append(f'{title}:\n  ' + '\n  '.join(items))
  return ConversionError('\n'.join(lines))


def params_from_state_dict(state_dict: Mapping[str, np.ndarray],
                           cfg: ModelConfig,
                           encoder_names: Mapping[str, str] | None = None) -> dict:
  """Map reference tensors (float32 numpy) onto the parameter dict of `cfg`.

  Raises ConversionError listing every reference tensor left unused, every
  parameter without a tensor, and every shape mismatch.
  """
  like = model_io.abstract_params(cfg)
  converted, missing, mismatched, used = {}, [], [], set()
  for path, leaf in _flatten(like).items():
    src = _source(path, cfg, encoder_names)
    absent = [k for k in src.keys if k not in state_dict]
    if absent:
      missing.extend(f'{k} (for {path})' for k in absent)
      continue
    used.update(src.keys, (k for k in src.optional if k in state_dict))
    try:
      value = np.asarray(src.fn(*(state_dict[k] for k in src.keys)), np.float32)
    except (IndexError, ValueError):  # Wrong-rank tensors.
      value = None
    if value is None or value.shape != tuple(leaf.shape):
      shapes = ', '.join(f'{k} {tuple(np.shape(state_dict[k]))}' for k in src.keys)
      mismatched.append(f'{shapes}: expected {tuple(leaf.shape)} for {path}')
      continue
    converted[path] = value
  unused = sorted(set(state_dict) - used)
  if missing or unused or mismatched:
    raise _mismatch_error(missing, unused, mismatched)
  return _unflatten(converted, like)


def _read_config(path: pathlib.Path) -> tuple[ModelConfig, dict[str, str]]:
  import yaml

  try:
    raw = yaml.safe_load(path.read_text())
  except (yaml.YAMLError, UnicodeDecodeError) as e:
    raise ConversionError(f'{path}: not valid YAML ({" ".join(str(e).split())})') from None
  try:
    return _parse_config(raw)
  except ConversionError as e:
    raise ConversionError(f'{path}: {e}') from None


def _read_state_dict(path: pathlib.Path) -> dict[str, np.ndarray]:
  """torch state dict -> float32 numpy arrays; every tensor must be finite."""
  try:
    state_dict = torch_state_dict.read_state_dict(path)
  except torch_state_dict.StateDictError as e:
    raise ConversionError(str(e)) from None
  if not isinstance(state_dict, Mapping) or not all(
      isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state_dict.items()):
    raise ConversionError(f'{path}: expected a flat mapping of names to tensors '
                          '(a model state dict).')
  out = {}
  for key, value in state_dict.items():
    if key.endswith('.num_batches_tracked'):  # An integer counter, unused in eval.
      out[key] = value
      continue
    if value.dtype not in (np.float32, np.float64, np.float16):  # bfloat16 arrives as float32.
      raise ConversionError(f'{path}: tensor {key} has dtype torch.{value.dtype.name} '
                            '(expected floating point).')
    value = value.astype(np.float32)
    if not np.isfinite(value).all():
      raise ConversionError(f'{path}: tensor {key} has {np.size(value) - np.isfinite(value).sum()}'
                            ' non-finite values (NaN or inf).')
    out[key] = value
  return out


def _check_probe(cfg: ModelConfig, params: Mapping, where: pathlib.Path) -> None:
  """Refuse weights whose logits are not finite on a short random night."""
  import jax
  from flax import nnx

  rng = np.random.default_rng(0)
  x = {
      n: rng.standard_normal((1, 2 * signals_lib.samples_per_epoch(n))).astype(np.float32)
      for n in cfg.signals
  }
  mask_BM = np.ones((1, len(cfg.signals)), bool)
  graphdef, state = nnx.split(model_io.build_model(cfg.replace(remat=False), params))
  forward = jax.jit(lambda st, x: nnx.merge(graphdef, st)(x, mask_BM))
  if not np.isfinite(np.asarray(forward(state, x))).all():
    raise ConversionError(f'{where}: the converted model gives non-finite logits on a '
                          'probe input (weights overflow float32).')


def load_reference(folder: str | pathlib.Path):
  """Read a reference folder -> (ModelConfig, pure parameter dict of numpy arrays)."""
  folder = pathlib.Path(folder)
  if not is_reference_checkpoint(folder):
    raise ConversionError(f'{folder} is not a reference checkpoint folder '
                          f'(needs {" and ".join(_REFERENCE_FILES)}).')
  cfg, encoder_names = _read_config(folder / 'config.yaml')
  state_path = folder / 'state_dict.pth'
  try:
    params = params_from_state_dict(_read_state_dict(state_path), cfg, encoder_names)
  except ConversionError as e:
    raise ConversionError(
        e if str(e).startswith(str(state_path)) else f'{state_path}: {e}') from None
  _check_probe(cfg, params, state_path)
  return cfg, params


def convert_reference(reference: str | pathlib.Path,
                      output: str | pathlib.Path) -> tuple[ModelConfig, int]:
  """Convert a reference folder into a wav2sleep_jax checkpoint at `output`.

  Returns the model config and its number of parameters.
  """
  cfg, params = load_reference(reference)
  model_io.save_model(output, cfg, params, preprocessing=prep_lib.reference())
  return cfg, sum(int(np.size(v)) for v in _flatten(params).values())
