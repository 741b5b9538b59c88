"""Hypnograms with realistic sleep architecture (5 classes per 30-s epoch).

Classes: 0 Wake, 1 N1, 2 N2, 3 N3, 4 REM; -1 unscored (a few trailing epochs after lights on in some
nights). The night is built from ~90-min NREM/REM cycles: sleep onset through N1, slow-wave sleep
concentrated in the first cycles, REM periods that lengthen towards morning, then fragmentation is
overlaid (brief awakenings returning through N1, N1 at transitions, N2 flicker inside N3).
"""

import numpy as np

from wav2sleep_jax.core.stages import N1, N2, N3, REM, UNSCORED, WAKE
from wav2sleep_jax.synthetic.population import Population

EPOCHS_PER_MIN = 2
# Minutes of N3 per cycle for a young adult, and mean REM minutes per cycle.
_N3_MIN_PER_CYCLE = (32.0, 16.0, 6.0, 2.0, 0.5, 0.0)
_REM_MIN_PER_CYCLE = (9.0, 18.0, 24.0, 28.0, 32.0, 34.0)


def _minutes(x: float, scale: float) -> int:
  return max(int(round(x * scale * EPOCHS_PER_MIN)), 0)


def simulate(rng: np.random.Generator,
             n_epochs: int,
             population: Population,
             time_scale: float | None = None) -> np.ndarray:
  """Returns int8 stages [n_epochs] for one night in bed.

  Args:
    rng: random generator (the only source of randomness).
    n_epochs: recording length in 30-s epochs.
    population: age-group medians (N3 budget, awakenings, sleep onset latency).
    time_scale: multiplies every duration of the architecture; defaults to 1 for nights of 7.5 h
      or more and shrinks proportionally for shorter nights so short test nights still contain
      all stages.
  """
  if time_scale is None:
    time_scale = min(1.0, n_epochs / (7.5 * 60 * EPOCHS_PER_MIN))
  s = time_scale
  stages = np.full(n_epochs, WAKE, dtype=np.int8)

  sol = _minutes(float(np.clip(population.sleep_onset_min * rng.lognormal(0.0, 0.6), 2, 90)), s)
  final_wake = _minutes(float(np.clip(rng.lognormal(np.log(8.0), 0.8), 0.5, 60)), s)
  # Capped at the night's end (very short nights); unchanged for all others.
  sleep_end = min(max(n_epochs - final_wake, sol + 4), n_epochs)
  n3_night = population.n3_scale * rng.lognormal(0.0, 0.35)
  rem_night = rng.lognormal(0.0, 0.15)

  t = min(sol, n_epochs)
  cycle = 0
  while t < sleep_end:
    length = _minutes(float(rng.normal(88.0 if cycle == 0 else 95.0, 12.0)), s)
    length = max(length, 8)
    k = min(cycle, len(_REM_MIN_PER_CYCLE) - 1)
    rem = _minutes(max(rng.normal(_REM_MIN_PER_CYCLE[k], 5.0 + 1.5 * k), 2.0) * rem_night, s)
    if cycle == 0 and rng.random() < 0.12:
      rem = 0  # Skipped first REM period.
    rem = min(rem, length // 2)
    nrem = length - rem
    n3 = _minutes(
        _N3_MIN_PER_CYCLE[min(cycle,
                              len(_N3_MIN_PER_CYCLE) - 1)] * n3_night * rng.lognormal(0.0, 0.3), s)
    n3 = min(n3, int(0.65 * nrem))
    n1 = max(_minutes(rng.uniform(1.0, 5.0) if cycle == 0 else rng.uniform(0.0, 2.0), s), 1)
    descent = _minutes(rng.uniform(6.0, 15.0), s) if n3 else 0
    seq = ([N1] * n1 + [N2] * descent + [N3] * n3)
    seq += [N2] * max(nrem - len(seq), 0) + [REM] * rem
    seg = np.asarray(seq[:max(sleep_end - t, 0)], dtype=np.int8)
    stages[t:t + len(seg)] = seg
    t += len(seg)
    cycle += 1

  sleep = np.arange(n_epochs)
  in_sleep = (sleep >= sol) & (sleep < sleep_end)
  _flicker(rng, stages, in_sleep)
  _awakenings(rng, stages, in_sleep, population, s)
  # Falling asleep and waking up usually pass through N1.
  if sol < n_epochs:
    onset_n1 = int(rng.integers(1, 4))
    stages[max(sol - onset_n1, 0):sol] = np.where(rng.random(min(onset_n1, sol)) < 0.8, N1, WAKE)
  stages[0] = WAKE  # Recordings start awake.
  if rng.random() < 0.3:
    stages[-int(rng.integers(1, 9)):] = UNSCORED
  return stages


def _flicker(rng: np.random.Generator, stages: np.ndarray, in_sleep: np.ndarray) -> None:
  """Epoch-level irregularity: N1 shifts inside N2, N2 inside N3, N1 at REM boundaries."""
  u = rng.random(len(stages))
  n2 = (stages == N2) & in_sleep
  stages[n2 & (u < 0.035)] = N1
  n3 = (stages == N3) & in_sleep
  stages[n3 & (u < 0.09)] = N2
  rem = (stages == REM) & in_sleep
  stages[rem & (u < 0.02)] = N1
  # Transitions into and out of REM often pass through an N1 epoch.
  change = np.flatnonzero(np.diff(stages.astype(np.int16)) != 0)
  for i in change:
    if (stages[i] == REM) != (stages[i + 1] == REM) and rng.random() < 0.35:
      j = i + 1 if stages[i] == REM else i
      if in_sleep[j]:
        stages[j] = N1


def _awakenings(rng: np.random.Generator, stages: np.ndarray, in_sleep: np.ndarray,
                population: Population, s: float) -> None:
  """Wake bouts after sleep onset, more frequent late in the night and out of REM/N1."""
  idx = np.flatnonzero(in_sleep)
  if idx.size < 4:
    return
  rate = population.awakenings_per_hour * rng.lognormal(0.0, 0.4)
  hours = idx.size / 120.0
  n = rng.poisson(rate * hours)
  position = (idx - idx[0]) / max(idx[-1] - idx[0], 1)
  stage_weight = np.array([1.0, 2.0, 1.0, 0.1, 1.5])[np.clip(stages[idx], 0, 4)]
  weight = stage_weight * (0.6 + 0.9 * position)
  starts = rng.choice(idx, size=n, p=weight / weight.sum())
  for start in starts:
    minutes = float(np.clip(rng.lognormal(np.log(1.2), 1.0), 0.5, 45.0))
    length = max(1, _minutes(minutes, max(s, 0.25)))
    end = min(start + length, idx[-1])
    resume = stages[end] if end < len(stages) else WAKE
    stages[start:end] = WAKE
    if end < len(stages) and in_sleep[end]:
      back = int(rng.integers(0, 3))
      stages[end:end + back] = np.where(np.asarray(resume) == N3, N2, N1)


def sleep_statistics(stages: np.ndarray) -> dict[str, float]:
  """Standard summary statistics of a 5-class hypnogram (-1 ignored)."""
  scored = stages >= 0
  asleep = np.isin(stages, (N1, N2, N3, REM))
  if not asleep.any():
    return {
        'efficiency': 0.0,
        'tst_min': 0.0,
        'sol_min': float('nan'),
        'rem_frac': 0.0,
        'n3_frac': 0.0,
        'n1_frac': 0.0,
        'n2_frac': 0.0,
        'waso_min': 0.0
    }
  first = int(np.argmax(asleep))
  last = len(stages) - int(np.argmax(asleep[::-1])) - 1
  tst = asleep.sum()
  return {
      'efficiency': float(tst / scored.sum()),
      'tst_min': tst / 2.0,
      'sol_min': first / 2.0,
      'waso_min': float((stages[first:last + 1] == WAKE).sum()) / 2.0,
      'n1_frac': float((stages == N1).sum() / tst),
      'n2_frac': float((stages == N2).sum() / tst),
      'n3_frac': float((stages == N3).sum() / tst),
      'rem_frac': float((stages == REM).sum() / tst),
  }
