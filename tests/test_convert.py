"""Reference checkpoint import: config translation and strict tensor mapping."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from wav2sleep_jax import convert, model_io
from wav2sleep_jax.models.config import ModelConfig
from tests.conftest import REPO_ROOT, require_shared

REFERENCE_CONFIG = {
    '_target_': 'wav2sleep.models.wav2sleep.Wav2Sleep',
    'num_classes': 4,
    'signal_encoders': {
        '_target_': 'x', 'signal_map': {'ECG': 'ECG', 'THX': 'THX'}, 'feature_dim': 128,
        'activation': 'gelu', 'norm': 'instance', 'causal': False, 'chunk_causal': False,
        'initial_channels': 16, 'max_channels': 128, 'output_norm': False,
        'use_residual': True},
    'epoch_mixer': {'_target_': 'x', 'feature_dim': 128, 'dropout': 0.1,
                    'activation': 'gelu', 'layers': 2, 'dim_ff': 512, 'nhead': 8},
    'sequence_mixer': {'_target_': 'x', 'feature_dim': 128, 'dropout': 0.1,
                       'activation': 'gelu', 'norm': 'layer', 'causal': False,
                       'num_layers': 2, 'kernel_size': 5, 'num_dilations': 5},
}


def _with(section, **changes):
  raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in REFERENCE_CONFIG.items()}
  if section is None:
    raw.update(changes)
  else:
    raw[section].update(changes)
  return raw


def test_config_translation():
  cfg = convert.config_from_reference(REFERENCE_CONFIG)
  assert cfg == ModelConfig(signals=('ECG', 'THX'), sequence_kernel_size=5,
                            sequence_dilations=(1, 2, 4, 8, 16))


@pytest.mark.parametrize('raw, message', [
    (_with('signal_encoders', surprise=1), 'does not understand'),
    (_with(None, extra_head=True), 'does not understand'),
    (_with('signal_encoders', chunk_causal=True), 'chunk_causal'),
    (_with('sequence_mixer', causal=True), 'agree on causal'),
    (_with('epoch_mixer', feature_dim=64), 'feature_dim'),
    (_with('signal_encoders', signal_map={'EEG': 'EEG'}), 'unsupported model'),
    ({k: v for k, v in REFERENCE_CONFIG.items() if k != 'epoch_mixer'}, 'needs'),
])
def test_config_errors(raw, message):
  with pytest.raises(convert.ConversionError, match=message):
    convert.config_from_reference(raw)


def _fake_state_dict(cfg):
  """A complete reference-style state dict (torch layouts) for `cfg`."""
  flat = convert._flatten(model_io.abstract_params(cfg))
  out = {}
  for path, leaf in flat.items():
    key, transform = convert._reference_key(path)
    shape = leaf.shape
    if transform is convert._conv:
      shape = shape[::-1]
    elif transform is convert._dense:
      shape = shape[::-1]
    out[key] = np.zeros(shape, np.float32)
  out['epoch_mixer.register_tokens'] = np.zeros((1, 1, cfg.feature_dim, 1), np.float32)
  return out


def test_state_dict_mapping_is_strict():
  cfg = ModelConfig(signals=('THX',))
  like = model_io.abstract_params(cfg)
  good = _fake_state_dict(cfg)
  params = convert.params_from_state_dict(good, like)
  assert params['encoders']['THX']['blocks'][0]['conv1']['kernel'].shape == (3, 1, 16)

  missing = {k: v for k, v in good.items() if 'classifier.bias' not in k}
  with pytest.raises(convert.ConversionError, match='missing reference tensors:\n  classifier.bias'):
    convert.params_from_state_dict(missing, like)
  unused = dict(good, **{'signal_encoders.encoders.ECG.linear.bias': np.zeros(128)})
  with pytest.raises(convert.ConversionError, match='unused reference tensors'):
    convert.params_from_state_dict(unused, like)
  wrong = dict(good, **{'classifier.weight': np.zeros((5, 128), np.float32)})
  with pytest.raises(convert.ConversionError, match='shape mismatches'):
    convert.params_from_state_dict(wrong, like)


def test_convert_cli_writes_checkpoint(tmp_path):
  pytest.importorskip('torch', reason="torch missing: pip install -e '.[torch]'")
  reference = require_shared('fixtures', 'reference', 'wav2sleep_eog')
  out = tmp_path / 'converted'
  result = subprocess.run(
      [sys.executable, '-m', 'wav2sleep_jax.convert', f'--reference={reference}',
       f'--output={out}'], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert '3,345,797 parameters' in result.stdout
  assert model_io.is_model_checkpoint(out)


def test_not_a_reference_folder(tmp_path):
  with pytest.raises(convert.ConversionError, match='not a reference checkpoint'):
    convert.load_reference(tmp_path)
