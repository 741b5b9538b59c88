"""Left and right electro-oculograms (E1-M2, E2-M1 style derivations), microvolts.

Horizontal eye movements appear with opposite polarity on the two channels: rapid saccades in
bursts during phasic REM, saccades while awake with eyes open, slow rolling movements around
sleep onset (N1). Blinks and frontal brain activity (K-complexes, slow waves in N3, spindles)
appear with the same polarity on both. Muscle noise is high in wake and lowest in REM (atonia).
"""

import numpy as np

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.synthetic import noise
from wav2sleep_jax.synthetic.eeg import FS_EEG
from wav2sleep_jax.synthetic.physiology import Drivers
from wav2sleep_jax.synthetic.physiology import FS


def _saccade_times(rng: np.random.Generator, st: np.ndarray) -> np.ndarray:
  phasic = rng.random(len(st)) < rng.uniform(0.3, 0.7)
  rate = np.array([6.0, 0.5, 0.05, 0.0, 0.6])[st] + np.where((st == 4) & phasic, 7.0, 0.0)
  counts = rng.poisson(rate * rng.lognormal(0.0, 0.3))
  epochs = np.repeat(np.arange(len(st)), counts) + rng.random(counts.sum())
  return np.sort(grid.EPOCH_SECONDS * epochs)


def render(rng: np.random.Generator, d: Drivers, brain: np.ndarray, fs: float,
           n: int) -> tuple[np.ndarray, np.ndarray]:
  """(left, right) EOG at `fs` Hz."""
  st = d.stages
  # Eye position (horizontal): saccades decay through the amplifier's AC coupling.
  t_sac = _saccade_times(rng, st)
  amp_sac = (rng.uniform(40.0, 250.0, t_sac.size) * rng.choice([-1.0, 1.0], t_sac.size))
  amp_sac = amp_sac.astype(np.float32)[:, None]
  tau = rng.uniform(0.4, 1.2)

  def saccade(dt, s):
    return amp_sac[s] / (1.0 + np.exp(-dt / 0.012)) * np.exp(-np.clip(dt, 0, None) / tau)

  eyes = noise.render_pulses(t_sac, n, fs, (-0.1, 5 * tau), saccade)
  sem = noise.stage_profile(st,
                            rng.lognormal(0.0, 0.3) * np.array([8.0, 55.0, 8.0, 0.0, 6.0]), FS,
                            30.0)
  eyes += noise.on_grid(sem, FS, n, fs) * noise.slow_noise(rng, n, fs, 0.4)

  # Blinks while awake (eyes open part of the time).
  counts = rng.poisson(np.where(st == 0, 4.0 * rng.lognormal(0.0, 0.4), 0.0))
  t_blink = grid.EPOCH_SECONDS * (np.repeat(np.arange(len(st)), counts) + rng.random(counts.sum()))
  amp_b = rng.uniform(60.0, 200.0, t_blink.size).astype(np.float32)[:, None]
  blinks = noise.render_pulses(t_blink, n, fs, (-0.5, 0.5),
                               lambda dt, s: noise.gaussian(dt, 0.0, 0.08, amp_b[s]))

  frontal = 0.6 * noise.on_grid(brain, FS_EEG, n, fs)
  fs_low = noise.divisor_rate(fs, min(fs, 16.0))
  m = int(np.ceil(n * fs_low / fs)) + 1
  emg_level = noise.stage_profile(st,
                                  rng.lognormal(0.0, 0.4) * np.array([9.0, 5.0, 3.5, 3.0, 1.5]), FS,
                                  5.0)
  emg_level = noise.on_grid(emg_level + 40.0 * d.movement, FS, n, fs)
  movement = noise.on_grid(d.movement, FS, m, fs_low)
  out = []
  for sign in (1.0, -1.0):
    slow = 150.0 * movement * noise.slow_noise(rng, m, fs_low, 2.0)
    slow += 15.0 * rng.lognormal(0.0, 0.5) * noise.slow_noise(rng, m, fs_low, 0.1)
    x = frontal + sign * eyes + blinks * rng.uniform(0.6, 1.0) + noise.on_grid(slow, fs_low, n, fs)
    x += emg_level * rng.standard_normal(n, dtype=np.float32)
    x += noise.pops(rng, d.duration_s, rng.uniform(0.1, 1.5), 200.0, n, fs)
    x += noise.mains(rng, n, fs, 2.0 * rng.lognormal(0.0, 1.0))
    out.append(rng.lognormal(0.0, 0.25) * noise.polarity(rng, 0.1) * x)
  return out[0], out[1]
