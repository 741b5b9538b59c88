"""`wav2sleep_jax.predict_raw`: staging an mne Raw (channel lookup, rates, start time)."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

import wav2sleep_jax
from wav2sleep_jax.inference import mne_input
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import runner
from tests.model_testutil import random_params, tiny_config

EPOCHS = 20
RATE = 200.0
MEAS = datetime.datetime(2022, 5, 6, 23, 10, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope='module')
def model():
  cfg = tiny_config(signals=('ECG', 'THX'))
  return model_lib.StagingModel(cfg, random_params(cfg, seed=0, scale=1.0))


def _raw(names=('EKG', 'Thor', 'C3-A2'), seed=0):
  import mne

  rng = np.random.default_rng(seed)
  data_CT = rng.standard_normal((len(names), int(EPOCHS * 30 * RATE)))
  info = mne.create_info(list(names), RATE, ch_types='misc')
  raw = mne.io.RawArray(data_CT, info, verbose='error')
  raw.set_meas_date(MEAS)
  return raw, data_CT


def test_aliases_rates_and_start(model):
  raw, data_CT = _raw()
  night = wav2sleep_jax.predict_raw(model, raw, name='n')
  assert night.signals == ('ECG', 'THX') and night.num_epochs == EPOCHS
  assert night.start == datetime.datetime(2022, 5, 6, 23, 10, 0) and night.name == 'n'
  # The same as the array API at the Raw's rate: resampled on the common path.
  direct = runner.predict_signals(model, {'ECG': (data_CT[0], RATE), 'THX': (data_CT[1], RATE)})
  np.testing.assert_array_equal(night.logits_SK, direct.logits_SK)
  assert wav2sleep_jax.predict_raw is mne_input.predict_raw


def test_explicit_channels_bads_and_crop(model):
  raw, data_CT = _raw(names=('Heart', 'Chest belt', 'EEG'))
  night = mne_input.predict_raw(model, raw, channels={'ECG': ['Missing', 'heart']}, signals=['ECG'])
  assert night.signals == ('ECG',)
  direct = runner.predict_signals(model, {'ECG': (data_CT[0], RATE)})
  np.testing.assert_array_equal(night.logits_SK, direct.logits_SK)
  raw2, _ = _raw()
  raw2.info['bads'] = ['Thor']
  assert mne_input.predict_raw(model, raw2).signals == ('ECG',)  # Bad channel: absent.
  raw2.info['bads'] = []
  cropped = raw2.copy().crop(tmin=300.0)
  assert mne_input.predict_raw(model, cropped).start == datetime.datetime(2022, 5, 6, 23, 15)
  assert mne_input.predict_raw(model, cropped).num_epochs == EPOCHS - 10


@pytest.mark.parametrize('channels, signals, message', [
    ({
        'ECG': 'Nope'
    }, None, r"none of the channels \['Nope'\] is in the Raw"),
    ({
        'PPG': 'EKG'
    }, None, 'not signals of this model'),
    (None, ['EEG'], 'not inputs of this model'),
])
def test_bad_mappings(model, channels, signals, message):
  raw, _ = _raw()
  with pytest.raises(ValueError, match=message):
    mne_input.predict_raw(model, raw, channels=channels, signals=signals)


def test_no_channel_and_bad_channel(model):
  raw, _ = _raw(names=('C3-A2', 'O1-A2'))
  with pytest.raises(ValueError, match=r"No channel for the signals \['ECG', 'THX'\]"):
    mne_input.predict_raw(model, raw)
  raw, _ = _raw()
  raw.info['bads'] = ['EKG']
  with pytest.raises(ValueError, match='marked bad'):
    mne_input.predict_raw(model, raw, channels={'ECG': 'EKG'})
