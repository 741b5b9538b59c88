"""Export to the reference's checkpoint format: exact inverse of the import."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.inference.model import StagingModel
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import reference
from wav2sleep_jax.models import reference_export
from wav2sleep_jax.models import torch_state_dict
from wav2sleep_jax.models.config import ModelConfig
from tests.conftest import require_shared

SMALL = dict(
    feature_dim=16,
    encoder_initial_channels=4,
    encoder_max_channels=8,
    mixer_heads=2,
    mixer_ff_dim=32,
    mixer_layers=1,
    sequence_blocks=1,
    sequence_dilations=(1, 2))
CONFIGS = {
    'default':
        ModelConfig(),
    'eog':
        ModelConfig(signals=('EOG-L', 'EOG-R'), num_classes=5),
    'causal_chunked':
        ModelConfig(
            signals=('ECG', 'THX'),
            causal=True,
            causal_mode='chunked',
            sequence_kernel_size=4,
            mixer_activation='relu',
            sequence_dropout=0.3,
            **SMALL),
    'causal_conv_acausal_mixer':
        ModelConfig(
            signals=('THX',),
            causal=True,
            causal_mode='conv',
            sequence_causal=False,
            activation='silu',
            **SMALL),
    'acausal_causal_mixer':
        ModelConfig(signals=('ABD',), sequence_causal=True, causal_mode='conv', **SMALL),
    'batch_norms':
        ModelConfig(signals=('THX', 'ABD'), encoder_norm='batch', sequence_norm='batch', **SMALL),
    'register_tokens':
        ModelConfig(
            signals=('THX', 'ECG', 'ABD'),
            mixer_register_tokens=3,
            encoder_signal_embedding=True,
            encoder_output_norm=True,
            encoder_norm='auto',
            sequence_norm='rms',
            mixer_norm_first=False,
            encoder_residual=False,
            sequence_activation='leaky',
            **SMALL),
    'group_and_none':
        ModelConfig(
            signals=('ECG',),
            encoder_norm='group',
            sequence_norm='none',
            activation='linear',
            num_classes=3,
            **SMALL),
    'layer_norms':
        ModelConfig(
            signals=('PPG',),
            encoder_norm='layer',
            sequence_norm='instance',
            instance_norm_eps=1e-3,
            dtype='bfloat16',
            remat=True,
            exact_padding=True,
            encoder_impl='loop',
            **SMALL),
}


def _as_loaded(cfg: ModelConfig) -> ModelConfig:
  """The config load_reference gives for an export of `cfg` (defaults made explicit)."""
  seq_causal = cfg.sequence_is_causal
  default = ModelConfig()
  return cfg.replace(
      mixer_activation=cfg.part_activation('mixer'),
      sequence_activation=cfg.part_activation('sequence'),
      sequence_dropout=cfg.dropout if cfg.sequence_dropout is None else cfg.sequence_dropout,
      sequence_causal=None if seq_causal == cfg.causal else seq_causal,
      causal_mode=cfg.causal_mode if cfg.causal else default.causal_mode,
      instance_norm_eps=(cfg.instance_norm_eps if cfg.encoder_norm in ('instance', 'auto') else
                         default.instance_norm_eps),
      group_norm_groups=(cfg.group_norm_groups if 'group' in (cfg.encoder_norm, cfg.sequence_norm)
                         else default.group_norm_groups),
      encoder_channels=(),
      dtype=default.dtype,
      remat=default.remat,
      exact_padding=default.exact_padding,
      encoder_impl=default.encoder_impl)


def _random_params(cfg: ModelConfig, seed: int = 0) -> dict:
  """init_params with every norm scale / bias moved off 1 / 0 (so mix-ups show)."""
  params = model_io.init_params(cfg, seed)
  flat = reference._flatten(params)  # pylint: disable=protected-access
  rng = np.random.default_rng(seed + 1)
  for path, value in flat.items():
    if path.endswith(('/scale', '/bias')):
      sign = rng.choice([-1.0, 1.0], value.shape)
      flat[path] = (sign * rng.uniform(0.5, 1.5, value.shape)).astype(np.float32)
  return reference._unflatten(flat, params)  # pylint: disable=protected-access


@pytest.mark.parametrize('name', CONFIGS)
def test_round_trip_is_exact(tmp_path, name):
  cfg = CONFIGS[name]
  params = _random_params(cfg)
  reference_export.write_reference(tmp_path, cfg, params)
  assert reference.is_reference_checkpoint(tmp_path)
  loaded_cfg, loaded = reference.load_reference(tmp_path)
  assert loaded_cfg == _as_loaded(cfg)
  ours = reference._flatten(params)  # pylint: disable=protected-access
  back = reference._flatten(loaded)  # pylint: disable=protected-access
  assert sorted(back) == sorted(ours)
  for path, value in ours.items():
    assert back[path].dtype == np.float32, path
    np.testing.assert_array_equal(back[path], value, err_msg=path)


def test_batch_norms_use_neutral_statistics():
  cfg = CONFIGS['batch_norms']
  params = _random_params(cfg)
  _, state = reference_export.to_reference(cfg, params)
  prefix = 'sequence_mixer.dilated_convs.0.conv_layers.1.norm.'
  norm = params['sequence_mixer']['blocks'][0]['norms'][1]
  np.testing.assert_array_equal(state[prefix + 'weight'], norm['scale'])
  np.testing.assert_array_equal(state[prefix + 'bias'], norm['bias'])
  np.testing.assert_array_equal(state[prefix + 'running_mean'], 0)
  np.testing.assert_allclose(state[prefix + 'running_var'], 1, atol=2e-5)
  assert state[prefix + 'num_batches_tracked'].dtype == np.int64
  assert state[prefix + 'num_batches_tracked'].shape == ()


@pytest.mark.parametrize(
    'folder', [
        ('reference_predict', 'model_cardiorespiratory'),
        ('reference_predict', 'model_eog'),
        ('reference_knobs', 'causal_chunked'),
        ('reference_knobs', 'causal_conv'),
        ('reference_knobs', 'encoder_norm_layer'),
        ('reference_knobs', 'output_norm_no_residual'),
        ('reference_knobs', 'register_tokens'),
        ('reference_knobs', 'relu_rms_sequence'),
    ],
    ids=lambda f: f[1])
def test_reexports_reference_checkpoints_unchanged(folder):
  """Import then export of a reference checkpoint gives back its tensors and config."""
  path = require_shared('fixtures', *folder)
  cfg, params = reference.load_reference(path)
  config, state = reference_export.to_reference(cfg, params)
  original = torch_state_dict.read_state_dict(path / 'state_dict.pth')
  assert list(state) == list(original)  # Same names, in the reference's module order.
  for key, value in original.items():
    assert state[key].shape == value.shape, key
    np.testing.assert_array_equal(state[key], value, err_msg=key)
  raw = yaml.safe_load((path / 'config.yaml').read_text())
  for section, values in config.items():
    if isinstance(values, dict):
      assert {k: v for k, v in values.items() if k in raw[section]} == raw[section], section
    else:
      assert raw[section] == values


def _random_nights(cfg: ModelConfig, epochs: int, absent: str) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(3)
  x = {
      n: rng.standard_normal((2, epochs * signals_lib.samples_per_epoch(n))).astype(np.float32)
      for n in cfg.signals
  }
  x[absent][1] = -np.inf  # Signal missing in the second night.
  return x


def test_torch_baseline_reproduces_exported_model(tmp_path):
  """A model of ours, exported, runs in a torch implementation with our logits."""
  torch = pytest.importorskip('torch', reason="the PyTorch baseline needs the 'torch' extra")
  from wav2sleep_jax.benchmarks import torch_baseline  # pylint: disable=g-import-not-at-top

  cfg = ModelConfig(
      feature_dim=32,
      mixer_heads=4,
      mixer_ff_dim=64,
      encoder_initial_channels=4,
      encoder_max_channels=16,
      sequence_dilations=(1, 2, 4))
  assert torch_baseline.unsupported_fields(cfg) == []
  params = _random_params(cfg, seed=5)
  reference_export.write_reference(tmp_path, cfg, params)
  model = torch_baseline.Wav2SleepTorch(cfg).eval()
  torch_baseline.load_reference_state(
      model, torch.load(tmp_path / 'state_dict.pth', map_location='cpu', weights_only=True))
  x = _random_nights(cfg, epochs=5, absent='PPG')
  with torch.inference_mode():
    theirs = model({n: torch.from_numpy(v) for n, v in x.items()}).numpy()
  ours = StagingModel(cfg, params).logits(x)
  assert ours.shape == theirs.shape == (2, 5, cfg.num_classes)
  np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize('changes, message', [
    (dict(encoder_downsample='maxpool'), "encoder_downsample='maxpool' cannot be written"),
    (dict(causal=True), "causal_mode='streaming' cannot be written"),
    (dict(layer_norm_eps=1e-6), 'layer_norm_eps=1e-06 cannot be written'),
    (dict(instance_norm_eps=1e-3), 'instance_norm_eps=0.001 cannot be written'),
    (dict(encoder_norm='group', group_norm_groups=2), 'group_norm_groups=2 cannot be written'),
    (dict(sequence_dilations=(1, 3)), r'sequence_dilations=\(1, 3\) cannot be written'),
    (dict(encoder_channels={'THX': (4, 4, 8, 8, 8, 16)}), 'encoder_channels=.* cannot be written'),
])
def test_inexpressible_settings_are_refused(tmp_path, changes, message):
  cfg = ModelConfig(signals=('THX',), **SMALL).replace(**changes)
  with pytest.raises(reference.ConversionError, match=message):
    reference_export.write_reference(tmp_path / 'out', cfg, model_io.init_params(cfg))
  assert not (tmp_path / 'out').exists()


def test_expressible_variants_are_accepted():
  """Settings that look non-default but say nothing new are written."""
  base = ModelConfig(signals=('THX',), **SMALL)
  same_channels = base.replace(encoder_channels={'THX': base.channel_schedule('THX')})
  unused_eps = base.replace(encoder_norm='layer', instance_norm_eps=1e-3, group_norm_groups=2)
  for cfg in (same_channels, unused_eps):
    config, _ = reference_export.to_reference(cfg, model_io.init_params(cfg))
    assert reference.config_from_reference(config) == _as_loaded(cfg)


def test_mismatched_params_are_refused():
  cfg = ModelConfig(signals=('THX',), **SMALL)
  params = model_io.init_params(cfg)
  params['classifier']['bias'] = np.zeros(7, np.float32)
  with pytest.raises(reference.ConversionError, match='1 mis-shaped; first: classifier/bias'):
    reference_export.to_reference(cfg, params)
  params['classifier']['bias'] = np.full(cfg.num_classes, np.nan, np.float32)
  with pytest.raises(reference.ConversionError, match='classifier/bias has non-finite'):
    reference_export.to_reference(cfg, params)
  del params['classifier']
  with pytest.raises(reference.ConversionError, match='2 missing'):
    reference_export.to_reference(cfg, params)
