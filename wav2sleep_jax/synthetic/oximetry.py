"""Slow oximeter and housekeeping channels: SpO2 (%), pulse rate (bpm), body position code."""

import numpy as np

from wav2sleep_jax.synthetic import events as ev
from wav2sleep_jax.synthetic import noise
from wav2sleep_jax.synthetic.physiology import Drivers


def spo2(rng: np.random.Generator, d: Drivers, events: list[ev.Event], fs: float,
         n: int) -> np.ndarray:
  t = np.arange(n) / fs
  x = d.spo2_baseline + 0.5 * noise.ou(rng, n, fs, 120.0)
  for e in events:
    if e.kind == ev.DESATURATION:
      # V-shaped dip reaching the nadir at 40 % of the event, recovering by its end.
      peak = e.start + 0.4 * e.duration
      down = np.clip((t - e.start) / (peak - e.start), 0, 1)
      up = np.clip((e.start + e.duration - t) / (e.start + e.duration - peak), 0, 1)
      x -= (e.baseline - e.nadir) * np.minimum(down, up)
  return np.clip(np.round(x), 50.0, 100.0).astype(np.float32)


def pulse_rate(d: Drivers, fs: float, n: int) -> np.ndarray:
  """Beat-to-beat rate averaged over ~4 beats, as an oximeter displays it."""
  rate = 60.0 / np.clip(np.diff(d.beat_times), 0.25, 3.0)
  rate = np.convolve(rate, np.full(4, 0.25), mode='same')
  return np.round(np.interp(np.arange(n) / fs, d.beat_times[1:], rate)).astype(np.float32)


def position(rng: np.random.Generator, d: Drivers, fs: float, n: int) -> np.ndarray:
  """Body position code (0 right, 1 supine, 2 left, 3 prone), changing at posture changes."""
  codes = rng.choice(4, size=len(d.posture_changes) + 1, p=[0.3, 0.4, 0.25, 0.05])
  return codes[np.searchsorted(d.posture_changes, np.arange(n) / fs)].astype(np.float32)
