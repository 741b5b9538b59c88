"""Sleep statistics of one night's stage sequence (pure NumPy, 30-s epochs).

Stages are class indices of `stages.STAGES_5` (Wake, N1, N2, N3, REM) or
`stages.STAGES_4` (Wake, Light, Deep, REM): class 0 is Wake, the last class is
REM, every other class is sleep. -1 marks an unscored epoch.

Definitions (times in minutes; the analysis window is the time in bed):
  time in bed (TIB): epochs from lights-off to lights-on; by default the whole
    recording period.
  total sleep time (TST): sleep epochs (any class but Wake) in the window.
  sleep efficiency (SE): 100 * TST / TIB.
  sleep onset latency (SOL): lights-off to the first sleep epoch.
  wake after sleep onset (WASO): Wake epochs between sleep onset and the final
    awakening (the end of the last sleep epoch); wake after it is not WASO.
  REM latency: sleep onset to the first REM epoch.
  awakenings: Wake bouts (runs of consecutive Wake epochs) of at least
    `min_awakening_epochs` epochs (default 1, i.e. 30 s) between sleep onset
    and the final awakening; the final awakening itself is not counted.
  per stage: minutes of each class; percent of TST for sleep stages, percent
    of TIB for Wake.
Unscored epochs count towards TIB only. Latencies are NaN when their event
(sleep, REM) never happens; WASO and awakenings are then 0.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from wav2sleep_jax.core import stages as stages_lib

EPOCH_MINUTES = 0.5


@dataclasses.dataclass(frozen=True)
class SleepStats:
  """Sleep statistics of one night (see the module docstring for definitions)."""

  time_in_bed_min: float
  total_sleep_time_min: float
  sleep_efficiency_pct: float
  sleep_onset_latency_min: float
  waso_min: float
  rem_latency_min: float
  awakenings: int
  stage_min: dict[str, float]
  stage_pct: dict[str, float]

  def as_row(self) -> dict[str, float | int]:
    """Flat {column: value} for a summary table, e.g. 'rem_min', 'n2_pct'."""
    row = {
        'tib_min': self.time_in_bed_min,
        'tst_min': self.total_sleep_time_min,
        'sleep_efficiency_pct': self.sleep_efficiency_pct,
        'sleep_onset_latency_min': self.sleep_onset_latency_min,
        'waso_min': self.waso_min,
        'rem_latency_min': self.rem_latency_min,
        'awakenings': self.awakenings,
    }
    for name, minutes in self.stage_min.items():
      row[f'{name.lower()}_min'] = minutes
      row[f'{name.lower()}_pct'] = self.stage_pct[name]
    return row


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
  """(start, length) of every run of True in a 1-D boolean array."""
  edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
  starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
  return [(int(s), int(e - s)) for s, e in zip(starts, ends)]


def _pct(part: float, whole: float) -> float:
  return 100.0 * part / whole if whole > 0 else math.nan


def sleep_statistics(stages_S: np.ndarray,
                     stage_names: Sequence[str] | None = None,
                     *,
                     lights_off_epoch: int = 0,
                     lights_on_epoch: int | None = None,
                     min_awakening_epochs: int = 1) -> SleepStats:
  """Statistics of a stage sequence.

  Args:
    stages_S: int [S] class per 30-s epoch (-1 unscored).
    stage_names: class names, Wake first and REM last (default
      `stages.STAGES_5`; pass `stages.STAGES_4` for 4-class stages).
    lights_off_epoch: first epoch in bed (default: recording start).
    lights_on_epoch: end of the time in bed, exclusive (default: recording end).
    min_awakening_epochs: shortest Wake bout counted as an awakening.

  Raises:
    ValueError: on stages outside [-1, K) or an empty/inverted window.
  """
  stages_S = np.asarray(stages_S)
  names = tuple(stage_names) if stage_names is not None else stages_lib.STAGES_5
  k = len(names)
  if stages_S.ndim != 1:
    raise ValueError(f'stages must be 1-D, got shape {stages_S.shape}.')
  if stages_S.size and (stages_S.min() < -1 or stages_S.max() >= k):
    raise ValueError(f'stages must be in [-1, {k}) for classes {names}.')
  if min_awakening_epochs < 1:
    raise ValueError(f'min_awakening_epochs must be >= 1, got {min_awakening_epochs}.')
  end = len(stages_S) if lights_on_epoch is None else lights_on_epoch
  if not 0 <= lights_off_epoch < end <= len(stages_S):
    raise ValueError(f'Time in bed [{lights_off_epoch}, {end}) is empty or outside the '
                     f'{len(stages_S)} epochs.')
  window = stages_S[lights_off_epoch:end]
  wake, rem = 0, k - 1
  sleep = window > wake
  tib = len(window) * EPOCH_MINUTES
  tst = int(sleep.sum()) * EPOCH_MINUTES
  sleep_idx = np.flatnonzero(sleep)
  if sleep_idx.size:
    onset, last = int(sleep_idx[0]), int(sleep_idx[-1])
    period = window[onset:last + 1]
    waso = int((period == wake).sum()) * EPOCH_MINUTES
    awakenings = sum(1 for _, n in _runs(period == wake) if n >= min_awakening_epochs)
    rem_idx = np.flatnonzero(window[onset:] == rem)
    sol = onset * EPOCH_MINUTES
    rem_latency = rem_idx[0] * EPOCH_MINUTES if rem_idx.size else math.nan
  else:
    waso, awakenings, sol, rem_latency = 0.0, 0, math.nan, math.nan
  stage_min, stage_pct = {}, {}
  for c, name in enumerate(names):
    minutes = int((window == c).sum()) * EPOCH_MINUTES
    stage_min[name] = minutes
    stage_pct[name] = _pct(minutes, tib if c == wake else tst)
  return SleepStats(
      time_in_bed_min=tib,
      total_sleep_time_min=tst,
      sleep_efficiency_pct=_pct(tst, tib),
      sleep_onset_latency_min=sol,
      waso_min=waso,
      rem_latency_min=float(rem_latency),
      awakenings=int(awakenings),
      stage_min=stage_min,
      stage_pct=stage_pct,
  )
