"""Background brain activity at 64 Hz, shared by the EEG channel and the EOG channels of a night.

Stage sets the power of delta (N3), theta (N1, REM), alpha (relaxed wake) and the rate of sleep
spindles and K-complexes (N2). Microvolts, before any electrode-specific gain.
"""

import numpy as np

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.synthetic import noise
from wav2sleep_jax.synthetic.physiology import Drivers

FS_EEG = 64.0


def simulate(rng: np.random.Generator, d: Drivers) -> np.ndarray:
  """EEG (uV) at FS_EEG Hz covering the night."""
  st = d.stages
  n = int(len(st) * grid.EPOCH_SECONDS * FS_EEG)
  night = rng.lognormal(0.0, 0.3)
  delta = noise.stage_profile(st, night * np.array([8.0, 12.0, 22.0, 60.0, 10.0]), FS_EEG, 10.0)
  theta = noise.stage_profile(st, np.array([6.0, 12.0, 8.0, 8.0, 10.0]), FS_EEG, 10.0)
  alpha = noise.stage_profile(st,
                              rng.lognormal(0.0, 0.6) * np.array([12.0, 4.0, 1.5, 1.0, 3.0]),
                              FS_EEG, 5.0)
  x = (
      delta * noise.band_noise(rng, n, FS_EEG, 0.5, 2.0) +
      theta * noise.band_noise(rng, n, FS_EEG, 4.0, 7.5) +
      alpha * noise.ou(rng, n, FS_EEG, 2.0) * noise.band_noise(rng, n, FS_EEG, 8.5, 11.5) +
      5.0 * noise.band_noise(rng, n, FS_EEG, 14.0, 28.0))

  # Spindles and K-complexes.
  rate = np.array([0.0, 0.3, 3.0, 1.2, 0.1])[st] * rng.lognormal(0.0, 0.3)
  counts = rng.poisson(rate)
  t_sp = grid.EPOCH_SECONDS * (np.repeat(np.arange(len(st)), counts) + rng.random(counts.sum()))
  freq = rng.uniform(11.5, 14.5, t_sp.size).astype(np.float32)[:, None]
  width = rng.uniform(0.2, 0.4, t_sp.size).astype(np.float32)[:, None]
  amp_sp = rng.uniform(8.0, 25.0, t_sp.size).astype(np.float32)[:, None]
  x += noise.render_pulses(
      t_sp, n, FS_EEG, (-1.2, 1.2),
      lambda dt, s: noise.gaussian(dt, 0.0, width[s], amp_sp[s]) * np.cos(2 * np.pi * freq[s] * dt))
  counts = rng.poisson(np.array([0.0, 0.1, 1.2, 0.4, 0.0])[st])
  t_k = grid.EPOCH_SECONDS * (np.repeat(np.arange(len(st)), counts) + rng.random(counts.sum()))
  amp_k = rng.uniform(50.0, 120.0, t_k.size).astype(np.float32)[:, None]
  x += noise.render_pulses(
      t_k, n, FS_EEG, (-0.5, 1.5), lambda dt, s:
      (noise.gaussian(dt, 0.0, 0.08, 0.4 * amp_k[s]) - noise.gaussian(dt, 0.45, 0.2, amp_k[s])))
  return x


def render(rng: np.random.Generator, d: Drivers, brain: np.ndarray, fs: float,
           n: int) -> np.ndarray:
  """An EEG derivation (uV) at `fs` Hz: the shared activity plus muscle noise and pops."""
  x = rng.lognormal(0.0, 0.2) * noise.on_grid(brain, FS_EEG, n, fs)
  emg = noise.stage_profile(d.stages, np.array([6.0, 3.0, 2.0, 2.0, 1.0]), 10.0, 5.0)
  x += noise.on_grid(emg, 10.0, n, fs) * rng.standard_normal(n, dtype=np.float32)
  x += noise.pops(rng, d.duration_s, 0.5, 150.0, n, fs)
  return x
