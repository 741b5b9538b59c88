"""Simple per-epoch features of generated signals, for tests."""

import numpy as np
from scipy import signal as sps


def r_peaks(x: np.ndarray, fs: float) -> np.ndarray:
  """R-peak times (s) of an ECG of either polarity."""
  sos = sps.butter(2, [5.0, 20.0], 'bandpass', fs=fs, output='sos')
  energy = sps.sosfiltfilt(sos, x)**2
  peaks, _ = sps.find_peaks(energy, distance=int(0.33 * fs), height=0.3 * np.percentile(energy, 98))
  return peaks / fs


def breath_onsets(x: np.ndarray, fs: float) -> np.ndarray:
  """Upward zero crossings (s) of a band-passed respiratory effort signal."""
  sos = sps.butter(2, [0.1, 0.7], 'bandpass', fs=fs, output='sos')
  y = sps.sosfiltfilt(sos, x)
  return np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0)) / fs


def epoch_features(times: np.ndarray, n_epochs: int) -> np.ndarray:
  """[epochs, 3]: rate, SD and RMSSD of the intervals between event times (NaN if too few)."""
  iv, t = np.diff(times), times[1:]
  epochs = (t // 30).astype(int)
  out = np.full((n_epochs, 3), np.nan)
  for e in range(n_epochs):
    v = iv[epochs == e]
    v = v[(v > 0.25) & (v < 12.0)]
    if len(v) > 2:
      out[e] = [1.0 / v.mean(), v.std() / v.mean(), np.sqrt(np.mean(np.diff(v)**2)) / v.mean()]
  return out
