"""Reference checkpoint import: config translation, strict tensor mapping, refusals."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import reference as reference_lib
from wav2sleep_jax.models.config import ModelConfig
from tests.conftest import REPO_ROOT, require_shared

REFERENCE_CONFIG = {
    '_target_': 'wav2sleep.models.wav2sleep.Wav2Sleep',
    'num_classes': 4,
    'signal_encoders': {
        '_target_': 'wav2sleep.models.wav2sleep.SignalEncoders',
        'signal_map': {
            'ECG': 'ECG',
            'THX': 'THX'
        },
        'feature_dim': 128,
        'activation': 'gelu',
        'norm': 'instance',
        'causal': False,
        'chunk_causal': False,
        'initial_channels': 16,
        'max_channels': 128,
        'output_norm': False,
        'use_residual': True
    },
    'epoch_mixer': {
        'feature_dim': 128,
        'dropout': 0.1,
        'activation': 'gelu',
        'layers': 2,
        'dim_ff': 512,
        'nhead': 8
    },
    'sequence_mixer': {
        'feature_dim': 128,
        'dropout': 0.1,
        'activation': 'gelu',
        'norm': 'layer',
        'causal': False,
        'num_layers': 2,
        'kernel_size': 5,
        'num_dilations': 5
    },
}
# Only the fields the reference requires; everything else takes its default.
MINIMAL_CONFIG = {
    'num_classes': 5,
    'signal_encoders': {
        'signal_map': {
            'ECG': 'ECG'
        },
        'feature_dim': 128,
        'activation': 'relu',
        'causal': True
    },
    'epoch_mixer': {
        'feature_dim': 128
    },
    'sequence_mixer': {},
}


def _with(section, base=REFERENCE_CONFIG, **changes):
  raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
  target = raw if section is None else raw[section]
  for key, value in changes.items():
    if value is _DROP:
      target.pop(key)
    else:
      target[key] = value
  return raw


_DROP = object()


def test_config_translation():
  cfg = reference_lib.config_from_reference(REFERENCE_CONFIG)
  assert cfg == ModelConfig(
      signals=('ECG', 'THX'),
      sequence_kernel_size=5,
      sequence_dilations=(1, 2, 4, 8, 16),
      mixer_activation='gelu',
      sequence_activation='gelu',
      sequence_dropout=0.1)


def test_missing_fields_take_reference_defaults():
  cfg = reference_lib.config_from_reference(MINIMAL_CONFIG)
  assert (cfg.causal, cfg.causal_mode, cfg.sequence_is_causal) == (True, 'chunked', False)
  assert cfg.encoder_norm == 'instance' and cfg.sequence_norm == 'batch'
  assert (cfg.mixer_layers, cfg.mixer_heads, cfg.mixer_ff_dim) == (4, 4, 512)
  assert (cfg.dropout, cfg.sequence_dropout) == (0.0, 0.2)
  assert cfg.part_activation('encoder') == 'relu'
  assert cfg.part_activation('mixer') == cfg.part_activation('sequence') == 'gelu'
  assert cfg.sequence_dilations == (1, 2, 4, 8, 16, 32) and cfg.sequence_kernel_size == 7


@pytest.mark.parametrize('section, changes, causal, mode, seq_causal', [
    ('signal_encoders', dict(causal=True, chunk_causal=False), True, 'conv', False),
    ('signal_encoders', dict(causal=True, chunk_causal=True), True, 'chunked', False),
    ('sequence_mixer', dict(causal=True), False, 'streaming', True),
])
def test_causal_modes(section, changes, causal, mode, seq_causal):
  cfg = reference_lib.config_from_reference(_with(section, **changes))
  assert (cfg.causal, cfg.causal_mode, cfg.sequence_is_causal) == (causal, mode, seq_causal)


@pytest.mark.parametrize('section, changes, message', [
    ('signal_encoders', dict(surprise=1), r'unknown fields signal_encoders\.surprise'),
    (None, dict(extra_head=True), 'unknown fields model.extra_head'),
    ('signal_encoders', dict(norm='Instance'), r"norm='Instance' is not supported.*instance"),
    ('signal_encoders', dict(norm='none'), r"norm='none'.*null"),
    ('signal_encoders', dict(norm='weight'), r"norm='weight' is not supported"),
    ('sequence_mixer', dict(norm='auto'), r"sequence_mixer\.norm='auto'"),
    ('signal_encoders', dict(causal='false'), r"causal='false'.*true or false"),
    ('signal_encoders', dict(feature_dim=128.7), r'feature_dim=128\.7.*integer'),
    ('signal_encoders', dict(activation='GELU'), r"activation='GELU'.*gelu"),
    ('epoch_mixer', dict(activation='tanh'), r"epoch_mixer\.activation='tanh'"),
    ('epoch_mixer', dict(nhead=3), 'nhead=3 does not divide'),
    ('epoch_mixer', dict(register_tokens=-1), 'register_tokens=-1'),
    ('epoch_mixer', dict(dropout='0.1'), r"dropout='0\.1'"),
    (None, dict(num_classes=0), r'num_classes=0.*>= 2'),
    (None, dict(num_classes=True), 'num_classes=True'),
    ('epoch_mixer', dict(feature_dim=64), r'epoch_mixer\.feature_dim=64 differs'),
    ('sequence_mixer', dict(feature_dim=_DROP), r'sequence_mixer\.feature_dim=128'),
    ('sequence_mixer', dict(kernel_size=4), 'kernel_size=4 is even'),
    ('signal_encoders', dict(signal_map={'EEG': 'EEG'}), "unknown signal 'EEG'"),
    ('signal_encoders', dict(signal_map=['ECG']), 'signal_map'),
    ('signal_encoders', dict(signal_map={
        'ECG': 'X',
        'PPG': 'X'
    }), "shares encoder 'X'"),
    ('signal_encoders', dict(norm='group', initial_channels=12), 'not divisible by 8'),
    ('signal_encoders', dict(_target_='wav2sleep.models.ppgnet.PPGNet'), 'SignalEncoders'),
    (None, dict(epoch_mixer=_DROP), "lacks required field 'epoch_mixer'"),
    (None, dict(sequence_mixer=[1]), "'sequence_mixer' must be a mapping"),
])
def test_config_refusals(section, changes, message):
  raw = _with(section, **changes)
  if section == 'sequence_mixer' and 'feature_dim' in changes:
    raw['signal_encoders']['feature_dim'] = raw['epoch_mixer']['feature_dim'] = 64
  with pytest.raises(reference_lib.ConversionError, match=message):
    reference_lib.config_from_reference(raw)


def test_non_mapping_config_is_refused():
  with pytest.raises(reference_lib.ConversionError, match='must be a mapping'):
    reference_lib.config_from_reference(['num_classes', 4])


# Every knob the fixtures do not cover, at once (tiny sizes).
KNOBS = ModelConfig(
    signals=('THX', 'ABD'),
    feature_dim=16,
    encoder_initial_channels=8,
    encoder_max_channels=8,
    encoder_norm='batch',
    encoder_output_norm=True,
    encoder_signal_embedding=True,
    mixer_heads=2,
    mixer_ff_dim=32,
    mixer_layers=1,
    mixer_register_tokens=2,
    mixer_norm_first=False,
    sequence_blocks=1,
    sequence_dilations=(1, 2),
    sequence_norm='group')


def _fake_state_dict(cfg, seed=0):
  """A complete reference-style state dict (torch layouts) for `cfg`."""
  rng = np.random.default_rng(seed)
  out = {}
  for path, leaf in reference_lib._flatten(model_io.abstract_params(cfg)).items():
    src = reference_lib._source(path, cfg)
    for key in src.keys + src.optional:
      if key.endswith('register_tokens'):
        shape = (1, 1, cfg.feature_dim, 1 + cfg.mixer_register_tokens)
      elif key.endswith('embedder.weight'):
        shape = (len(cfg.signals), cfg.feature_dim)
      elif src.fn in (reference_lib._conv, reference_lib._dense):
        shape = leaf.shape[::-1]
      elif key.endswith('num_batches_tracked'):
        out[key] = np.array(7)
        continue
      else:
        shape = leaf.shape
      out[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
  return out


def test_state_dict_mapping_of_every_knob():
  sd = _fake_state_dict(KNOBS)
  params = reference_lib.params_from_state_dict(sd, KNOBS)
  tokens = sd['epoch_mixer.register_tokens'][0, 0]
  np.testing.assert_array_equal(params['epoch_mixer']['cls_token'], tokens[:, 0])
  np.testing.assert_array_equal(params['epoch_mixer']['register_tokens'], tokens[:, 1:].T)
  # Embedding rows follow the reference's sorted names (ABD, THX); ours follow signals.
  np.testing.assert_array_equal(params['signal_embedding'],
                                sd['signal_encoders.embedder.weight'][[1, 0]])
  bn = 'signal_encoders.encoders.ABD.cnn.0.conv2.norm.'
  scale = sd[bn + 'weight'] / np.sqrt(sd[bn + 'running_var'] + 1e-5)
  norm = params['encoders']['ABD']['blocks'][0]['norm2']
  np.testing.assert_allclose(norm['scale'], scale, rtol=1e-6)
  np.testing.assert_allclose(
      norm['bias'], sd[bn + 'bias'] - sd[bn + 'running_mean'] * scale, rtol=1e-5)
  group = 'sequence_mixer.dilated_convs.0.conv_layers.1.norm.norm.weight'
  np.testing.assert_array_equal(params['sequence_mixer']['blocks'][0]['norms'][1]['scale'],
                                sd[group])


def test_state_dict_mapping_is_strict():
  cfg = ModelConfig(
      signals=('THX',),
      feature_dim=16,
      encoder_initial_channels=4,
      encoder_max_channels=8,
      mixer_heads=2,
      mixer_ff_dim=32)
  good = _fake_state_dict(cfg)
  params = reference_lib.params_from_state_dict(good, cfg)
  assert params['encoders']['THX']['blocks'][0]['conv1']['kernel'].shape == (3, 1, 4)
  cases = [
      ({
          k: v for k, v in good.items() if k != 'classifier.bias'
      }, r'1 missing tensors; first: classifier\.bias'),
      (dict(good, **{'signal_encoders.encoders.ECG.linear.bias': np.zeros(16)}),
       r'1 unused tensors; first: signal_encoders\.encoders\.ECG'),
      (dict(good, **{'classifier.weight': np.zeros((5, 16), np.float32)}), '1 mis-shaped'),
      (dict(good, **{'classifier.bias': np.zeros((2, 2), np.float32)}), '1 mis-shaped'),
      # Two register tokens where the config has none: refused, not truncated.
      (dict(good, **{'epoch_mixer.register_tokens': np.zeros(
          (1, 1, 16, 3), np.float32)}), r'register_tokens \(1, 1, 16, 3\)'),
  ]
  for state_dict, message in cases:
    with pytest.raises(reference_lib.ConversionError, match=message):
      reference_lib.params_from_state_dict(state_dict, cfg)


@pytest.fixture
def tampered(tmp_path):
  """tampered(edit) -> a knob fixture copy; edit(sd) changes sd in place or returns a dict."""
  torch = pytest.importorskip('torch', reason="torch missing: pip install -e '.[torch]'")
  source = require_shared('fixtures', 'reference_knobs', 'causal_conv')

  def make(edit):
    folder = tmp_path / 'ref'
    folder.mkdir(exist_ok=True)
    shutil.copy(source / 'config.yaml', folder / 'config.yaml')
    state_dict = torch.load(source / 'state_dict.pth', weights_only=True)
    edited = edit(state_dict)
    torch.save(edited if isinstance(edited, dict) else state_dict, folder / 'state_dict.pth')
    return folder

  return make


def test_nan_weights_are_refused(tampered):
  folder = tampered(lambda sd: sd['classifier.bias'].__setitem__(1, float('nan')))
  with pytest.raises(
      reference_lib.ConversionError,
      match=r'state_dict\.pth: tensor classifier\.bias has 1 non-finite'):
    reference_lib.load_reference(folder)


@pytest.mark.slow
def test_overflowing_logits_are_refused(tampered):
  folder = tampered(lambda sd: sd['classifier.weight'].fill_(3e38))
  with pytest.raises(reference_lib.ConversionError, match='non-finite logits on a probe input'):
    reference_lib.load_reference(folder)


def test_half_precision_weights_are_converted(tampered):
  import torch

  folder = tampered(lambda sd: {
      k: v.to(torch.bfloat16) if i % 2 else v.half() for i, (k, v) in enumerate(sd.items())
  })
  _, params = reference_lib.load_reference(folder)
  reference = torch.load(folder / 'state_dict.pth', weights_only=True)['classifier.weight']
  assert reference.dtype in (torch.bfloat16, torch.float16)
  np.testing.assert_array_equal(params['classifier']['kernel'], reference.float().numpy().T)


@pytest.mark.parametrize('edit, message', [
    (lambda sd: {
        'model': sd
    }, 'flat mapping of names to tensors'),
    (lambda sd: {
        **sd, 'classifier.bias': sd['classifier.bias'].long()
    }, 'dtype torch.int64'),
])
def test_foreign_state_dicts_are_refused(tampered, edit, message):
  with pytest.raises(reference_lib.ConversionError, match=message):
    reference_lib.load_reference(tampered(edit))


def test_unreadable_files_are_refused(tampered):
  folder = tampered(lambda sd: None)
  (folder / 'config.yaml').write_text('num_classes: [4\n')
  with pytest.raises(reference_lib.ConversionError, match=r'config\.yaml: not valid YAML'):
    reference_lib.load_reference(folder)
  (folder / 'state_dict.pth').write_bytes(b'not a torch file')
  shutil.copy(
      require_shared('fixtures', 'reference_knobs', 'causal_conv', 'config.yaml'),
      folder / 'config.yaml')
  with pytest.raises(reference_lib.ConversionError, match=r'state_dict\.pth: not a readable'):
    reference_lib.load_reference(folder)


def test_not_a_reference_folder(tmp_path):
  with pytest.raises(reference_lib.ConversionError, match='not a reference checkpoint'):
    reference_lib.load_reference(tmp_path)


def _run_convert(*args):
  return subprocess.run([sys.executable, '-m', 'wav2sleep_jax.convert', *args],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=300)


@pytest.mark.slow
def test_convert_cli_writes_checkpoint(tmp_path):
  pytest.importorskip('torch', reason="torch missing: pip install -e '.[torch]'")
  reference = require_shared('fixtures', 'reference', 'wav2sleep_eog')
  out = tmp_path / 'converted'
  result = _run_convert(f'--reference={reference}', f'--output={out}')
  assert result.returncode == 0, result.stderr
  assert '3,345,797 parameters' in result.stdout
  assert model_io.is_model_checkpoint(out)


@pytest.mark.slow
def test_convert_cli_bad_input_is_one_line(tampered, tmp_path):
  folder = tampered(lambda sd: None)
  text = (folder / 'config.yaml').read_text().replace('norm: instance', 'norm: Instance')
  (folder / 'config.yaml').write_text(text)
  result = _run_convert(f'--reference={folder}', f'--output={tmp_path / "out"}')
  assert result.returncode == 2, result.stderr
  assert result.stderr.splitlines() == [
      f"error: {folder / 'config.yaml'}: signal_encoders.norm='Instance' is not supported "
      "(supported: instance, layer, rms, group, batch, null, auto)."
  ]
  assert not (tmp_path / 'out').exists()
  missing = _run_convert(f'--reference={tmp_path / "nowhere"}', f'--output={tmp_path / "o"}')
  assert missing.returncode == 2 and missing.stderr.startswith('error: ')
  assert len(missing.stderr.splitlines()) == 1, missing.stderr


def test_renamed_encoders_map_to_their_signals():
  raw = _with('signal_encoders', signal_map={'ECG': 'heart', 'THX': 'THX'})
  cfg, names = reference_lib._parse_config(raw)
  assert cfg.signals == ('ECG', 'THX') and names['ECG'] == 'heart'
  small = cfg.replace(
      feature_dim=16,
      encoder_initial_channels=4,
      encoder_max_channels=8,
      mixer_heads=2,
      mixer_ff_dim=32)
  sd = {
      k.replace('encoders.ECG.', 'encoders.heart.'): v for k, v in _fake_state_dict(small).items()
  }
  params = reference_lib.params_from_state_dict(sd, small, names)
  np.testing.assert_array_equal(params['encoders']['ECG']['proj']['bias'],
                                sd['signal_encoders.encoders.heart.linear.bias'])
  with pytest.raises(reference_lib.ConversionError, match='missing'):
    reference_lib.params_from_state_dict(sd, small)
