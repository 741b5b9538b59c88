"""Generated nights: determinism, shapes, and stage-dependent physiology in the signals."""

import time

import numpy as np
from scipy import signal as sps

from wav2sleep_jax import synthetic
from wav2sleep_jax.synthetic import layouts

from .features import r_peaks


def test_deterministic_per_cohort_seed_and_index():
  a = synthetic.generate_night('mesa', seed=3, night_index=1, hours=0.25)
  b = synthetic.generate_night('mesa', seed=3, night_index=1, hours=0.25)
  assert a.start_time == b.start_time and a.events == b.events
  np.testing.assert_array_equal(a.labels, b.labels)
  for label in a.channels:
    np.testing.assert_array_equal(a.channels[label].data, b.channels[label].data)
  other_seed = synthetic.generate_night('mesa', seed=4, night_index=1, hours=0.25)
  other_night = synthetic.generate_night('mesa', seed=3, night_index=2, hours=0.25)
  for other in (other_seed, other_night):
    assert not np.array_equal(a.channels['EKG'].data, other.channels['EKG'].data)


def test_channels_have_native_rates_and_lengths():
  for name, spec in layouts.COHORTS.items():
    night = synthetic.generate_night(name, seed=0, night_index=0, hours=0.1)
    assert night.labels.dtype == np.int8 and len(night.labels) == 12
    assert set(np.unique(night.labels)) <= {-1, 0, 1, 2, 3, 4}
    assert len(night.channels) == len(spec.channels)
    for ch in night.channels.values():
      assert ch.data.dtype == np.float32
      assert ch.data.shape == (int(night.duration_s) * ch.rate,), (name, ch.label)
      lo, hi = ch.physical_range
      assert ch.data.min() >= lo and ch.data.max() <= hi
      if ch.source not in ('POS',):
        assert ch.data.std() > 0, (name, ch.label)


def test_default_length_drawn_per_night_and_fast():
  start = time.perf_counter()
  night = synthetic.generate_night('shhs', seed=0, night_index=5)
  elapsed = time.perf_counter() - start
  assert 6.0 <= night.duration_s / 3600 <= 11.0
  assert elapsed < 8.0  # ~1.5 s on two cores; generous for loaded CI machines.


def _per_stage(values, times, labels, stage):
  epochs = (times // 30).astype(int)
  keep = labels[np.clip(epochs, 0, len(labels) - 1)] == stage
  return values[keep]


def _shhs_nights(n=5, hours=3.0):
  return [synthetic.generate_night('shhs', seed=11, night_index=i, hours=hours) for i in range(n)]


def test_heart_rate_lower_in_n3_than_wake_and_variability_lowest_in_n3():
  hr_w, hr_n3, sd_n2, sd_n3 = [], [], [], []
  for night in _shhs_nights():
    beats = r_peaks(*night.signals['ECG'])
    rr = np.diff(beats)
    ok = (rr > 0.3) & (rr < 2.0)
    rr, t = rr[ok], beats[1:][ok]
    hr_w.append(np.mean(60.0 / _per_stage(rr, t, night.labels, 0)))
    hr_n3.append(np.mean(60.0 / _per_stage(rr, t, night.labels, 3)))
    # Non-respiratory beat-to-beat irregularity: SD of RR within epochs.
    epochs = (t // 30).astype(int)
    for stage, out in ((2, sd_n2), (3, sd_n3)):
      sds = [
          rr[epochs == e].std()
          for e in np.flatnonzero(night.labels == stage)
          if (epochs == e).sum() > 10
      ]
      out.append(np.median(sds))
  assert np.mean(hr_n3) < np.mean(hr_w) - 2.0, (hr_w, hr_n3)
  assert 40 < np.mean(hr_n3) < 100
  # Per night the HR ordering is not guaranteed: stages overlap between nights.
  assert np.mean(sd_n3) < np.mean(sd_n2)


def test_breathing_more_irregular_in_rem_than_n3():
  cv_rem, cv_n3 = [], []
  for night in _shhs_nights():
    x, fs = night.signals['THOR RES']
    sos = sps.butter(2, [0.1, 0.7], 'bandpass', fs=fs, output='sos')
    y = sps.sosfiltfilt(sos, x)
    up = np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0)) / fs
    intervals, t = np.diff(up), up[1:]
    epochs = (t // 30).astype(int)
    for stage, out in ((4, cv_rem), (3, cv_n3)):
      cvs = [
          intervals[epochs == e].std() / intervals[epochs == e].mean()
          for e in np.flatnonzero(night.labels == stage)
          if (epochs == e).sum() >= 4
      ]
      out.append(np.median(cvs))
  assert np.mean(cv_rem) > 1.5 * np.mean(cv_n3), (cv_rem, cv_n3)


def test_eog_shows_antiphase_eye_movements_in_rem():
  night = synthetic.generate_night('mesa', seed=2, night_index=0, hours=2.0)
  left, fs = night.signals['EOG-L']
  right, _ = night.signals['EOG-R']
  per_epoch = int(30 * fs)

  def corr(stage):
    idx = np.flatnonzero(night.labels == stage)
    l = np.concatenate([left[i * per_epoch:(i + 1) * per_epoch] for i in idx])
    r = np.concatenate([right[i * per_epoch:(i + 1) * per_epoch] for i in idx])
    sos = sps.butter(2, [0.3, 3.0], 'bandpass', fs=fs, output='sos')
    return np.corrcoef(sps.sosfiltfilt(sos, l), sps.sosfiltfilt(sos, r))[0, 1]

  # Same sign of correlation as the polarity product: compare REM with N3 relative to it.
  sign = np.sign(corr(3))
  assert sign * corr(4) < sign * corr(3) - 0.3
