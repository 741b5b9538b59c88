"""Public API: input validation and absent-signal conventions of StagingModel."""

from __future__ import annotations

import numpy as np
import pytest

import wav2sleep_jax
from wav2sleep_jax.inference.model import StagingModel
from wav2sleep_jax.models import io as model_io
from tests.model_testutil import random_params, random_signals, tiny_config


@pytest.fixture(scope='module')
def model():
  cfg = tiny_config()
  return StagingModel(cfg, random_params(cfg))


def test_predict_and_probabilities(model):
  x = random_signals(('ECG', 'THX'), batch=2, epochs=3)
  probs = model.probabilities(x)
  assert probs.shape == (2, 3, 4)
  np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
  np.testing.assert_array_equal(model.predict(x), probs.argmax(-1))
  assert model.stage_names == ('Wake', 'Light', 'Deep', 'REM')


@pytest.mark.parametrize('fill', [-np.inf, np.nan])
def test_non_finite_row_marks_signal_absent(model, fill):
  x = random_signals(('ECG', 'PPG'), batch=2, epochs=2)
  x_absent = dict(x, PPG=x['PPG'].copy())
  x_absent['PPG'][1] = fill
  mixed = model.logits(x_absent)
  without_ppg = model.logits({'ECG': x['ECG']})
  np.testing.assert_allclose(mixed[1], without_ppg[1], atol=1e-5)
  np.testing.assert_allclose(mixed[0], model.logits(x)[0], atol=1e-5)


def test_normalize_makes_scale_irrelevant(model):
  x = random_signals(('ECG',), batch=1, epochs=2)
  scaled = {'ECG': x['ECG'] * 1000 + 5}
  np.testing.assert_allclose(
      model.logits(scaled, normalize=True), model.logits(x, normalize=True), atol=1e-4)


@pytest.mark.parametrize('signals, message', [
    ({}, 'non-empty'),
    ({
        'EEG': np.zeros((1, 1024))
    }, r"Unknown signal\(s\) \['EEG'\]"),
    ({
        'ECG': np.zeros(1024)
    }, 'expected a \\[nights, samples\\] array'),
    ({
        'ECG': np.zeros((1, 1000))
    }, 'not a whole number of 30-s epochs'),
    ({
        'ECG': np.zeros((1, 0))
    }, 'not a whole number'),
    ({
        'ECG': np.zeros((1, 2048)),
        'THX': np.zeros((2, 512))
    }, 'THX has 2 nights but ECG has 1'),
    ({
        'ECG': np.zeros((1, 2048)),
        'THX': np.zeros((1, 256))
    }, 'covers 1 epochs but ECG covers 2'),
    ({
        'ECG': np.full((1, 1024), -np.inf)
    }, r'Night\(s\) \[0\] have no present signal'),
    ({
        'ECG': np.r_[np.zeros(1000), np.full(24, np.nan)][None]
    }, 'mix finite and non-finite'),
])
def test_bad_inputs_raise_clear_errors(model, signals, message):
  with pytest.raises(ValueError, match=message):
    model.logits(signals)


def test_load_model_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match='does not exist'):
    wav2sleep_jax.load_model(tmp_path / 'nope')
  with pytest.raises(FileNotFoundError, match='neither a wav2sleep_jax checkpoint'):
    wav2sleep_jax.load_model(tmp_path)


@pytest.mark.slow
def test_own_checkpoint_roundtrip_and_dtype_override(tmp_path):
  cfg = tiny_config(signals=('ABD', 'THX'), num_classes=5)
  params = random_params(cfg, seed=4)
  model_io.save_model(tmp_path / 'ck', cfg, params)
  loaded = wav2sleep_jax.load_model(tmp_path / 'ck')
  assert loaded.config == cfg
  x = random_signals(('ABD',), 1, 2)
  np.testing.assert_allclose(loaded.logits(x), StagingModel(cfg, params).logits(x), atol=1e-6)
  assert loaded.stage_names == ('Wake', 'N1', 'N2', 'N3', 'REM')
  bf16 = wav2sleep_jax.load_model(tmp_path / 'ck', dtype='bfloat16')
  assert bf16.config.dtype == 'bfloat16'
