"""Photoplethysmogram: one pulse per heart beat after the pulse transit time.

Pulse amplitude follows the driver's vascular tone (vasoconstriction at arousals and in REM,
large stable pulses in N3) and respiration; the baseline carries respiratory-induced intensity
variation, slow drift and large motion artifacts. Arbitrary units; polarity differs by device.
"""

import numpy as np

from wav2sleep_jax.synthetic import noise
from wav2sleep_jax.synthetic.physiology import Drivers
from wav2sleep_jax.synthetic.physiology import FS


def render(rng: np.random.Generator, d: Drivers, fs: float, n: int) -> np.ndarray:
  gain = rng.lognormal(0.0, 0.4) * noise.polarity(rng, 0.25)
  dicrotic = rng.uniform(0.2, 0.5)
  ptt0 = 0.24 * rng.lognormal(0.0, 0.12)
  grid_t = np.arange(len(d.heart_rate)) / FS
  beats = d.beat_times
  hr = np.interp(beats, grid_t, d.heart_rate)
  ptt = ptt0 - 0.0015 * (hr - 65.0)
  rr = np.clip(np.diff(beats, append=beats[-1] + 1.0), 0.3, 2.0)
  scale = np.sqrt(rr).astype(np.float32)[:, None]
  tone = np.interp(beats, grid_t, d.vascular_tone)
  breath = np.sin(2 * np.pi * np.interp(beats, grid_t, d.resp_phase))
  amp = (tone * (1.0 + 0.08 * breath) * np.where(d.ectopic, 0.45, 1.0)).astype(np.float32)[:, None]

  def pulse(dt, sel):
    s = scale[sel]
    rise = noise.gaussian(dt, 0.13 * s, 0.045 * s, 1.0)
    fall = noise.gaussian(dt, 0.13 * s, 0.13 * s, 1.0)
    systolic = np.where(dt < 0.13 * s, rise, fall)
    return amp[sel] * (systolic + noise.gaussian(dt, 0.40 * s, 0.08 * s, dicrotic))

  x = noise.render_pulses(beats + ptt, n, fs, (-0.05, 1.0), pulse)
  x -= x.mean()
  fs_low = noise.divisor_rate(fs, min(fs, 20.0))
  m = int(np.ceil(n * fs_low / fs)) + 1
  movement = noise.on_grid(d.movement, FS, m, fs_low)
  slow = 0.15 * rng.lognormal(0.0, 0.4) * noise.on_grid(
      (np.sin(2 * np.pi * d.resp_phase) * d.resp_amplitude).astype(np.float32), FS, m, fs_low)
  slow += 0.4 * rng.lognormal(0.0, 0.4) * noise.slow_noise(rng, m, fs_low, 0.05)
  slow += 3.0 * movement * noise.slow_noise(rng, m, fs_low, 3.0)
  x += noise.on_grid(slow, fs_low, n, fs)
  x += 0.02 * rng.lognormal(0.0, 0.5) * rng.standard_normal(n, dtype=np.float32)
  return gain * x
