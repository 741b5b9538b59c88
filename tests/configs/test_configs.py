"""Every experiment config loads; variants are checked; model sections derive from defaults."""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import subprocess
import sys

import pytest

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.models.config import ModelConfig
from wav2sleep_jax.training import trainer

_CONFIG_DIR = pathlib.Path(__file__).parents[2] / 'wav2sleep_jax' / 'configs'
_FILES = sorted(p.stem for p in _CONFIG_DIR.glob('*.py') if p.stem not in ('__init__', 'common'))
_PAPER = {'remat': True}
_DEMO = {
    'feature_dim': 64,
    'encoder_initial_channels': 8,
    'encoder_max_channels': 32,
    'mixer_heads': 4,
    'mixer_ff_dim': 128,
    'sequence_dilations': (1, 2, 4, 8, 16)
}
# (file, variant) -> the model fields that differ from ModelConfig's defaults.
_OVERRIDES = {
    ('default', ''): _PAPER,
    ('default', 'ecg_only'): {
        **_PAPER, 'signals': ('ECG',)
    },
    ('default', 'no_ppg'): {
        **_PAPER, 'signals': ('ECG', 'ABD', 'THX')
    },
    ('default', 'causal'): {
        **_PAPER, 'causal': True
    },
    ('demo', ''): _DEMO,
    ('eog', ''): {
        **_PAPER, 'signals': signals_lib.EOG,
        'num_classes': 5
    },
    ('eog', 'causal'): {
        **_PAPER, 'signals': signals_lib.EOG,
        'num_classes': 5,
        'causal': True
    },
    ('open', ''): {
        **_PAPER, 'signals': ('ECG', 'ABD', 'THX')
    },
    ('open', 'ecg_only'): {
        **_PAPER, 'signals': ('ECG',)
    },
    ('open', 'eog'): {
        **_PAPER, 'signals': signals_lib.EOG,
        'num_classes': 5
    },
}


def _module(name):
  return importlib.import_module(f'wav2sleep_jax.configs.{name}')


def test_every_config_file_and_variant_is_listed():
  assert _FILES == ['default', 'demo', 'eog', 'open']
  listed = {(name, v) for name in _FILES for v in _module(name).VARIANTS}
  assert listed == set(_OVERRIDES)


@pytest.mark.parametrize('name,variant', sorted(_OVERRIDES))
def test_model_section_is_the_defaults_but_the_listed_overrides(name, variant):
  config = _module(name).get_config(variant)
  mcfg = trainer.model_config_from(config)
  defaults = ModelConfig()
  changed = {
      f.name: getattr(mcfg, f.name)
      for f in dataclasses.fields(ModelConfig)
      if getattr(mcfg, f.name) != getattr(defaults, f.name)
  }
  assert changed == _OVERRIDES[name, variant]
  assert set(config.model) == {f.name for f in dataclasses.fields(ModelConfig)}
  assert config.is_locked


@pytest.mark.parametrize('name,variant', sorted(_OVERRIDES))
def test_the_paper_config_cuts_evaluation_at_10_h_and_the_others_keep_whole_nights(name, variant):
  config = _module(name).get_config(variant)
  assert config.eval_max_epochs == (1200 if name == 'default' else 0)


@pytest.mark.parametrize('name', _FILES)
def test_unknown_variant_raises(name):
  with pytest.raises(ValueError, match="Unknown config variant 'nosuch'"):
    _module(name).get_config('nosuch')
  assert _module(name).get_config(None).to_dict() == _module(name).get_config('').to_dict()


def test_optional_model_fields_can_be_set_and_bad_overrides_fail():
  from wav2sleep_jax.configs import common
  config = common.base_config()
  config.model.mixer_activation = 'relu'
  config.model.sequence_dropout = 0.25
  mcfg = trainer.model_config_from(config)
  assert (mcfg.mixer_activation, mcfg.sequence_dropout) == ('relu', 0.25)
  with pytest.raises(TypeError):
    config.model.sequence_dropout = 'high'
  with pytest.raises(TypeError, match='nosuch'):
    common.model_config(nosuch=1)
  with pytest.raises(ValueError, match='activation'):
    common.model_config(activation='tanh')


def test_train_cli_names_an_unknown_variant_in_one_line(tmp_path):
  result = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.train', '--config=wav2sleep_jax/configs/eog.py:nosuch',
      f'--workdir={tmp_path}'
  ],
                          capture_output=True,
                          text=True,
                          cwd=_CONFIG_DIR.parents[1],
                          timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: flag --config='), lines
  assert "Unknown config variant 'nosuch'; choose from ('', 'causal')" in lines[0]


@pytest.mark.parametrize('variant, datasets', [('', ('cinc2018', 'ucddb', 'slpdb')),
                                               ('ecg_only', ('cinc2018', 'ucddb', 'slpdb', 'hmc')),
                                               ('eog', ('hmc', 'ucddb'))])
def test_open_configs_use_open_datasets_that_hold_every_evaluated_signal(variant, datasets):
  from wav2sleep_jax.psg import cohorts
  config = _module('open').get_config(variant)
  assert config.train_datasets == config.val_datasets == config.test_datasets == datasets
  builders = pathlib.Path(__file__).parents[2] / 'tfds_builders'
  for name in datasets:
    assert (builders / name / f'{name}_dataset_builder.py').is_file()
    cohort = cohorts.get(name)
    assert not cohort.layout.startswith('nsrr') and 'PPG' not in cohort.signals
    for subset in config.eval_subsets:  # Each table cell has a signal to stage from.
      assert set(subset or config.model.signals) & set(cohort.signals), (name, subset)
