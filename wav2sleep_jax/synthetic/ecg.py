"""ECG: a PQRST template placed at every beat of the stage-dependent RR process, plus noise.

Per night: lead amplitude and polarity, P/S/T morphology (inverted T waves in some leads), QT that
follows RR, respiratory modulation of the QRS amplitude (electrical axis), premature ventricular
beats with wide QRS, baseline wander, mains hum, muscle noise, movement artifacts and electrode
pops. Output in mV.
"""

import numpy as np

from wav2sleep_jax.synthetic import noise
from wav2sleep_jax.synthetic.physiology import Drivers
from wav2sleep_jax.synthetic.physiology import FS


def render(rng: np.random.Generator, d: Drivers, fs: float, n: int) -> np.ndarray:
  """ECG in mV at `fs` Hz, `n` samples."""
  gain = rng.lognormal(0.0, 0.35) * noise.polarity(rng, 0.15)
  p_amp = 0.12 * rng.lognormal(0.0, 0.3)
  q_amp = -0.08 * rng.lognormal(0.0, 0.5)
  s_amp = -0.25 * rng.lognormal(0.0, 0.6)
  t_amp = 0.28 * rng.lognormal(0.0, 0.35) * (-1.0 if rng.random() < 0.1 else 1.0)
  r_sigma = 0.010 * rng.lognormal(0.0, 0.15)
  edr = rng.uniform(0.03, 0.12)

  beats = d.beat_times
  rr = np.clip(np.diff(beats, append=beats[-1] + 1.0), 0.3, 2.0)
  qt = np.sqrt(rr).astype(np.float32)[:, None]
  grid_t = np.arange(len(d.resp_phase)) / FS
  breath = np.sin(2 * np.pi * np.interp(beats, grid_t, d.resp_phase)).astype(np.float32)[:, None]
  r_scale = 1.0 + edr * breath
  pvc = d.ectopic[:, None]
  r_w = np.where(pvc, 3.5 * r_sigma, r_sigma).astype(np.float32)
  r_a = np.where(pvc, 1.4, 1.0) * r_scale
  t_a = np.where(pvc, -1.3 * abs(t_amp), t_amp).astype(np.float32)
  p_a = np.where(pvc, 0.0, p_amp).astype(np.float32)

  def beat(dt, sel):
    return (noise.gaussian(dt, -0.16, 0.022, p_a[sel]) + noise.gaussian(dt, -0.028, 0.009, q_amp) +
            noise.gaussian(dt, 0.0, r_w[sel], r_a[sel]) + noise.gaussian(dt, 0.03, 0.011, s_amp) +
            noise.gaussian(dt, 0.24 * qt[sel], 0.05 * qt[sel], t_a[sel]))

  x = noise.render_pulses(beats, n, fs, (-0.25, 0.6), beat)
  x *= gain

  # Slow components at a low rate, then one up-sampling.
  fs_low = noise.divisor_rate(fs, min(fs, 25.0))
  m = int(np.ceil(n * fs_low / fs)) + 1
  movement = noise.on_grid(d.movement, FS, m, fs_low)
  slow = 0.04 * rng.lognormal(0.0, 0.5) * noise.on_grid(
      np.sin(2 * np.pi * d.resp_phase).astype(np.float32), FS, m, fs_low)
  slow += 0.08 * rng.lognormal(0.0, 0.5) * noise.slow_noise(rng, m, fs_low, 0.3)
  slow += movement * 0.5 * rng.lognormal(0.0, 0.4) * noise.slow_noise(rng, m, fs_low, 6.0)
  x += noise.on_grid(slow, fs_low, n, fs)
  emg = noise.on_grid((0.008 + 0.05 * movement) * rng.lognormal(0.0, 0.4), fs_low, n, fs)
  x += emg * rng.standard_normal(n, dtype=np.float32)
  x += noise.mains(rng, n, fs, 0.004 * rng.lognormal(0.0, 1.0))
  x += noise.pops(rng, d.duration_s, rng.uniform(0.2, 3.0), 1.5, n, fs)
  return x
