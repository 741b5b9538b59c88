"""Vectorised random processes shared by the signal generators.

Every function takes a `numpy.random.Generator` and returns float32 arrays; none keeps state.
"""

import numpy as np
from scipy import signal as sps

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.core import stages as stages_lib

STAGE_COUNT = len(stages_lib.STAGES_5)


def unit_noise(x: np.ndarray) -> np.ndarray:
  """Scales `x` to zero mean, unit standard deviation (float32)."""
  x = x - x.mean()
  return (x / max(float(x.std()), 1e-12)).astype(np.float32)


def ou(rng: np.random.Generator, n: int, fs: float, tau_s: float) -> np.ndarray:
  """Unit-variance Ornstein-Uhlenbeck (AR(1)) noise with time constant `tau_s`."""
  a = float(np.exp(-1.0 / (fs * tau_s)))
  w = rng.standard_normal(n).astype(np.float32)
  w[0] /= max(np.sqrt(1 - a * a), 1e-6)  # Start in the stationary distribution.
  return (sps.lfilter([np.sqrt(1 - a * a)], [1.0, -a], w)).astype(np.float32)


def band_noise(rng: np.random.Generator,
               n: int,
               fs: float,
               lo: float | None,
               hi: float | None,
               order: int = 2) -> np.ndarray:
  """Unit-variance Gaussian noise, Butterworth-filtered to [lo, hi] Hz (either may be None)."""
  w = rng.standard_normal(n).astype(np.float32)
  if lo and hi:
    sos = sps.butter(order, [lo, hi], btype='bandpass', fs=fs, output='sos')
  elif hi:
    sos = sps.butter(order, hi, btype='lowpass', fs=fs, output='sos')
  elif lo:
    sos = sps.butter(order, lo, btype='highpass', fs=fs, output='sos')
  else:
    return w
  return unit_noise(sps.sosfilt(sos, w))


def smooth(x: np.ndarray, fs: float, tau_s: float) -> np.ndarray:
  """Causal one-pole low-pass (exponential approach with time constant `tau_s`)."""
  a = float(np.exp(-1.0 / (fs * tau_s)))
  zi = np.array([x[0] * a], dtype=np.float64)
  y, _ = sps.lfilter([1 - a], [1.0, -a], x, zi=zi)
  return y.astype(np.float32)


def stage_profile(stages: np.ndarray, values_per_stage: np.ndarray, fs: float,
                  tau_s: float) -> np.ndarray:
  """Per-epoch stage values held over each 30-s epoch at `fs`, smoothed with `tau_s`.

  `stages` holds 0..4 per epoch; `values_per_stage` has 5 entries, or one row per epoch
  (shape [n_epochs]) when the caller already jittered them per epoch.
  """
  per_epoch = values_per_stage[stages] if values_per_stage.shape == (
      STAGE_COUNT,) else values_per_stage
  held = np.repeat(per_epoch.astype(np.float32), int(round(grid.EPOCH_SECONDS * fs)))
  return smooth(held, fs, tau_s)


def divisor_rate(fs: float, minimum: float) -> float:
  """Smallest integer divisor of `fs` that is >= `minimum` (or `fs` itself)."""
  if fs != int(fs):
    return fs
  for d in range(max(int(np.ceil(minimum)), 1), int(fs) + 1):
    if int(fs) % d == 0:
      return float(d)
  return fs


def on_grid(x: np.ndarray, fs_from: float, n_to: int, fs_to: float) -> np.ndarray:
  """Linearly interpolates a signal sampled at `fs_from` onto `n_to` samples at `fs_to`.

  Integer up-sampling factors use a fast float32 path; other ratios go through an intermediate
  rate that divides `fs_to` so that the expensive general interpolation runs on few samples.
  """
  x = np.asarray(x)
  ratio = fs_to / fs_from
  factor = int(round(ratio))
  if factor >= 1 and abs(ratio - factor) < 1e-9:
    if factor == 1:
      out = x[:n_to].astype(np.float32)
      return np.pad(out, (0, n_to - len(out)), mode='edge') if len(out) < n_to else out
    m = -(-n_to // factor)
    xs = x.astype(np.float32)
    if len(xs) < m + 1:
      xs = np.pad(xs, (0, m + 1 - len(xs)), mode='edge')
    a, b = xs[:m], xs[1:m + 1]
    w = np.arange(factor, dtype=np.float32) / factor
    return (a[:, None] + (b - a)[:, None] * w[None, :]).reshape(-1)[:n_to]
  mid = divisor_rate(fs_to, min(fs_to, max(fs_from * 2, 16.0)))
  if mid < fs_to and fs_to > fs_from:
    m = int(np.ceil(n_to * mid / fs_to)) + 1
    return on_grid(on_grid(x, fs_from, m, mid), mid, n_to, fs_to)
  t_to = np.arange(n_to, dtype=np.float64) / fs_to
  t_from = np.arange(len(x), dtype=np.float64) / fs_from
  return np.interp(t_to, t_from, x).astype(np.float32)


def event_mask(starts: np.ndarray,
               durations: np.ndarray,
               n: int,
               fs: float,
               ramp_s: float = 0.0) -> np.ndarray:
  """0..1 envelope that is 1 inside the given intervals, optionally with smooth ramps."""
  mask = np.zeros(n + 1, dtype=np.float32)
  i0 = np.clip((np.asarray(starts) * fs).astype(np.int64), 0, n)
  i1 = np.clip(((np.asarray(starts) + np.asarray(durations)) * fs).astype(np.int64), 0, n)
  np.add.at(mask, i0, 1.0)
  np.add.at(mask, i1, -1.0)
  mask = np.minimum(np.cumsum(mask[:n]), 1.0).astype(np.float32)
  if ramp_s > 0:
    k = max(int(ramp_s * fs), 1)
    mask = np.convolve(mask, np.full(k, 1.0 / k, dtype=np.float32), mode='same')
  return mask


def transients(times_s: np.ndarray, amplitudes: np.ndarray, tau_s: np.ndarray | float, n: int,
               fs: float) -> np.ndarray:
  """Sum of step-then-exponential-decay transients (electrode pops, movement jolts)."""
  out = np.zeros(n, dtype=np.float32)
  times_s = np.asarray(times_s, dtype=np.float64)
  if times_s.size == 0:
    return out
  tau = np.broadcast_to(np.asarray(tau_s, dtype=np.float64), times_s.shape)
  for t0, amp, tk in zip(times_s, amplitudes, tau):  # Few per night: a loop is fine.
    i0 = int(t0 * fs)
    i1 = min(n, i0 + int(6 * tk * fs) + 1)
    if i0 >= n:
      continue
    t = np.arange(i1 - i0, dtype=np.float32) / fs
    out[i0:i1] += amp * np.exp(-t / tk)
  return out


def slow_noise(rng: np.random.Generator, n: int, fs: float, hi: float) -> np.ndarray:
  """Unit-variance low-pass noise (cut-off `hi` Hz) made at a low rate and interpolated to `fs`."""
  fs_low = divisor_rate(fs, min(fs, 5.0 * hi))
  m = int(np.ceil(n * fs_low / fs)) + 2
  return on_grid(band_noise(rng, m, fs_low, None, min(hi, 0.45 * fs_low)), fs_low, n, fs)


def mains(rng: np.random.Generator, n: int, fs: float, amplitude: float) -> np.ndarray:
  """60-Hz hum (zero when `fs` cannot represent it): one second tiled, so it stays exact."""
  if fs <= 125 or fs != int(fs):
    return np.zeros(n, dtype=np.float32)
  second = np.sin(2 * np.pi * 60.0 * np.arange(int(fs)) / fs + 2 * np.pi * rng.random())
  return np.tile((amplitude * second).astype(np.float32), -(-n // int(fs)))[:n]


def render_pulses(times_s: np.ndarray,
                  n: int,
                  fs: float,
                  window_s: tuple[float, float],
                  shape_fn,
                  chunk_elements: int = 6_000_000) -> np.ndarray:
  """Adds one waveform per event time into an `n`-sample signal (vectorised over events).

  `shape_fn(dt, sel)` gets the time offsets dt [events, window] (seconds, relative to each event's
  exact, sub-sample time) and the slice `sel` of events they belong to (so per-event parameters
  can be indexed as `param[sel, None]`); it returns waveform values shaped like dt.
  """
  times_s = np.asarray(times_s, dtype=np.float64)
  pre = int(np.ceil(-window_s[0] * fs))
  post = int(np.ceil(window_s[1] * fs))
  times_s = times_s[(times_s >= 0) & (times_s * fs < n)]
  k = np.arange(0, pre + post + 1, dtype=np.int64)  # Offsets into a padded output.
  out = np.zeros(n + pre + post + 1, dtype=np.float64)
  chunk = max(1, chunk_elements // k.size)
  for lo in range(0, times_s.size, chunk):
    sel = slice(lo, min(lo + chunk, times_s.size))
    base = np.floor(times_s[sel] * fs).astype(np.int64)
    idx = base[:, None] + k[None, :]
    dt = ((idx - pre) / fs - times_s[sel, None]).astype(np.float32)
    vals = shape_fn(dt, sel)
    out += np.bincount(idx.ravel(), weights=vals.ravel(), minlength=out.size)
  return out[pre:pre + n].astype(np.float32)


def pops(rng: np.random.Generator, duration_s: float, per_hour: float, amplitude: float, n: int,
         fs: float) -> np.ndarray:
  """Electrode pops: sudden offsets of random sign decaying over 0.2-2 s."""
  count = rng.poisson(per_hour * duration_s / 3600.0)
  times = rng.uniform(0.0, duration_s, count)
  amps = amplitude * rng.uniform(0.5, 2.0, count) * rng.choice([-1.0, 1.0], count)
  return transients(times, amps, rng.uniform(0.2, 2.0, count), n, fs)


def polarity(rng: np.random.Generator, p_flip: float) -> float:
  return -1.0 if rng.random() < p_flip else 1.0


def gaussian(dt, mu, sigma, amp):
  return amp * np.exp(-0.5 * ((dt - mu) / sigma)**2)
