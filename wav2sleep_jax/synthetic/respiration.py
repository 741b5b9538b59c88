"""Thoracic and abdominal respiratory-effort belts (inductance plethysmography).

Breaths have a shorter inspiration than expiration; the rib cage contributes less in REM; the
belts move in opposition during obstructive events and go flat in central apneas. Each belt has
its own gain, polarity, wandering baseline and gain changes at posture changes, cardiogenic
ripple, movement artifacts and noise. Arbitrary units (a typical breath is ~1 peak to peak).
"""

import numpy as np

from wav2sleep_jax.synthetic import noise
from wav2sleep_jax.synthetic.physiology import Drivers
from wav2sleep_jax.synthetic.physiology import FS

THX, ABD = 'THX', 'ABD'


def breath_shape(phase: np.ndarray, inspiration: float) -> np.ndarray:
  """Zero-mean breath waveform of a phase in cycles: raised-cosine rise, slower fall."""
  u = np.mod(phase, 1.0)
  up = 0.5 - 0.5 * np.cos(np.pi * u / inspiration)
  down = 0.5 + 0.5 * np.cos(np.pi * (u - inspiration) / (1.0 - inspiration))
  return (np.where(u < inspiration, up, down) - 0.5).astype(np.float32)


def render(rng: np.random.Generator, d: Drivers, belt: str, fs: float, n: int) -> np.ndarray:
  """One belt (`THX` or `ABD`) at `fs` Hz."""
  grid_n = len(d.resp_phase)
  share = d.thx_share if belt == THX else np.ones(grid_n, dtype=np.float32)
  lead = 0.0 if belt == THX else rng.uniform(0.0, 0.06)  # Abdomen leads the chest slightly.
  shift = lead + (0.5 * d.paradox if belt == ABD else 0.0)
  phase = noise.on_grid((d.resp_phase + shift).astype(np.float64), FS, n, fs)
  envelope = noise.on_grid(d.resp_amplitude * share, FS, n, fs)
  x = envelope * breath_shape(phase, rng.uniform(0.35, 0.45))

  # Gain changes at posture changes, wandering baseline, cardiogenic ripple, artifacts, noise.
  seg = np.searchsorted(d.posture_changes, np.arange(grid_n) / FS)
  seg_gain = rng.lognormal(0.0, 0.3, len(d.posture_changes) + 1).astype(np.float32)
  seg_base = rng.normal(0.0, 0.5, len(d.posture_changes) + 1).astype(np.float32)
  x *= noise.on_grid(noise.smooth(seg_gain[seg], FS, 2.0), FS, n, fs)
  x += noise.on_grid(noise.smooth(seg_base[seg], FS, 20.0), FS, n, fs)
  x += 0.3 * rng.lognormal(0.0, 0.5) * noise.slow_noise(rng, n, fs, 0.02)
  beat_phase = np.interp(np.arange(n) / fs, d.beat_times, np.arange(d.beat_times.size))
  x += 0.03 * rng.lognormal(0.0, 0.5) * np.sin(2 * np.pi * beat_phase).astype(np.float32)
  movement = noise.on_grid(d.movement, FS, n, fs)
  x += 1.5 * movement * noise.slow_noise(rng, n, fs, min(2.0, fs / 4))
  x += 0.02 * rng.standard_normal(n, dtype=np.float32)
  return rng.lognormal(0.0, 0.4) * noise.polarity(rng, 0.15) * x
