"""Sleep statistics of one night's stage sequence, with YASA's definitions (NumPy, 30-s epochs).

Stages are class indices of `stages.STAGES_5` (Wake, N1, N2, N3, REM) or
`stages.STAGES_4` (Wake, Light, Deep, REM): class 0 is Wake, the last class is
REM, every other class is sleep. -1 marks an unscored epoch (YASA's 'UNS').

Definitions, as `yasa.Hypnogram.sleep_statistics` and `yasa.sleep_statistics`
(yasa 0.8) compute them on a hypnogram cropped to the time in bed (the window
[lights-off, lights-on), by default the whole recording); minutes unless noted:
  TIB  time in bed: every epoch of the window.
  SPT  sleep period time: first to last sleep epoch, inclusive.
  WASO wake after sleep onset: Wake epochs inside the SPT.
  TST  total sleep time: sleep epochs inside the SPT (unscored epochs are not sleep).
  SE   sleep efficiency, % = 100 * TST / TIB.
  SME  sleep maintenance efficiency, % = 100 * TST / SPT.
  SFI  sleep fragmentation index, per hour: transitions from a sleep epoch
       straight into Wake (the final awakening included) per hour of TST.
  SOL  sleep onset latency: window start to the first sleep epoch.
  SOL_5min (persistent sleep latency): window start to the first run of at least
       5 minutes (10 epochs) of uninterrupted sleep.
  Lat_<stage>: window start to the first epoch of that stage (YASA's REM latency).
  <stage> minutes: epochs of each class in the whole window; NREM = N1 + N2 + N3
       (5 classes); %<stage>: percent of TST, sleep stages only.
Besides YASA's: the AASM REM latency (sleep onset to the first REM epoch, =
Lat_REM - SOL), and awakenings (Wake bouts of at least `min_awakening_epochs`
inside the SPT; the final awakening is not one of them).
Without sleep: SPT, TST and SE are 0, everything relative to sleep is NaN.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from wav2sleep_jax.core import stages as stages_lib

EPOCH_MINUTES = 0.5
PERSISTENT_SLEEP_EPOCHS = 10  # 5 minutes.
_NREM_5 = ('N1', 'N2', 'N3')

# summary.csv column -> YASA key, for the scalar statistics.
YASA_KEYS = {
    'tib_min': 'TIB',
    'spt_min': 'SPT',
    'tst_min': 'TST',
    'waso_min': 'WASO',
    'sleep_efficiency_pct': 'SE',
    'sleep_maintenance_efficiency_pct': 'SME',
    'sleep_fragmentation_index_per_h': 'SFI',
    'sleep_onset_latency_min': 'SOL',
    'persistent_sleep_latency_min': 'SOL_5min',
}


@dataclasses.dataclass(frozen=True)
class SleepStats:
  """Sleep statistics of one night (see the module docstring for definitions).

  Attributes:
    stage_min: minutes per class name (and 'NREM' for 5 classes).
    stage_pct: percent of TST per sleep class (and 'NREM').
    latency_min: minutes from the window start to each sleep class.
    unscored_min: unscored epochs in the window (part of TIB only).
  """

  tib_min: float
  spt_min: float
  tst_min: float
  waso_min: float
  sleep_efficiency_pct: float
  sleep_maintenance_efficiency_pct: float
  sleep_fragmentation_index_per_h: float
  sleep_onset_latency_min: float
  persistent_sleep_latency_min: float
  rem_latency_from_sleep_onset_min: float
  awakenings: int
  stage_min: dict[str, float]
  stage_pct: dict[str, float]
  latency_min: dict[str, float]
  unscored_min: float = 0.0

  def as_row(self) -> dict[str, float | int]:
    """Flat {column: value} for summary.csv, e.g. 'tst_min', 'n2_pct', 'rem_latency_...'."""
    row = {column: getattr(self, column) for column in YASA_KEYS}
    row['rem_latency_from_sleep_onset_min'] = self.rem_latency_from_sleep_onset_min
    row['awakenings'] = self.awakenings
    for name, minutes in self.latency_min.items():
      row[f'{name.lower()}_latency_from_start_min'] = minutes
    for name, minutes in self.stage_min.items():
      row[f'{name.lower()}_min'] = minutes
    for name, pct in self.stage_pct.items():
      row[f'{name.lower()}_pct'] = pct
    return row

  def as_yasa(self) -> dict[str, float]:
    """The statistics under YASA's keys ('TIB', 'SE', 'Lat_REM', 'N2', '%N2', 'WAKE', ...)."""
    out = {key: float(getattr(self, column)) for column, key in YASA_KEYS.items()}
    out.update({f'Lat_{n.upper()}': v for n, v in self.latency_min.items()})
    out.update({n.upper(): v for n, v in self.stage_min.items()})
    out.update({f'%{n.upper()}': v for n, v in self.stage_pct.items()})
    if self.unscored_min:
      out['UNS'] = self.unscored_min
    return out


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
  """(start, length) of every run of True in a 1-D boolean array."""
  return [(first, length) for first, length, value in stages_lib.runs(mask) if value]


def _pct(part: float, whole: float) -> float:
  return 100.0 * part / whole if whole > 0 else math.nan


def _window(stages_S, stage_names, lights_off_epoch, lights_on_epoch, min_awakening_epochs):
  """Checked (stages inside the time in bed, class names)."""
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
  return stages_S[lights_off_epoch:end], names


def _per_stage(window: np.ndarray, names: Sequence[str], tst: float):
  """(minutes per class [+ NREM], % of TST per sleep class [+ NREM], latency per sleep class)."""
  stage_min = {n: int((window == c).sum()) * EPOCH_MINUTES for c, n in enumerate(names)}
  sleep_names = list(names[1:])
  if tuple(names) == stages_lib.STAGES_5:
    stage_min['NREM'] = sum(stage_min[n] for n in _NREM_5)
    sleep_names.insert(len(_NREM_5), 'NREM')
  stage_pct = {n: _pct(stage_min[n], tst) for n in sleep_names}
  latency = {}
  for c, name in enumerate(names[1:], start=1):
    first = np.flatnonzero(window == c)
    latency[name] = first[0] * EPOCH_MINUTES if first.size else math.nan
  return stage_min, stage_pct, latency


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
  window, names = _window(stages_S, stage_names, lights_off_epoch, lights_on_epoch,
                          min_awakening_epochs)
  wake, rem = 0, len(names) - 1
  sleep = window > wake
  sleep_idx = np.flatnonzero(sleep)
  tib = len(window) * EPOCH_MINUTES
  tst = int(sleep.sum()) * EPOCH_MINUTES  # Every sleep epoch lies inside the SPT.
  stage_min, stage_pct, latency = _per_stage(window, names, tst)
  nan = math.nan
  spt = waso = sme = sfi = sol = sol_5 = rem_aasm = nan
  awakenings = 0
  if sleep_idx.size:
    onset, last = int(sleep_idx[0]), int(sleep_idx[-1])
    period = window[onset:last + 1]
    spt = len(period) * EPOCH_MINUTES
    waso = int((period == wake).sum()) * EPOCH_MINUTES
    sme = _pct(tst, spt)
    sfi = int((sleep[:-1] & (window[1:] == wake)).sum()) / (tst / 60.0)
    sol = onset * EPOCH_MINUTES
    persistent = [s for s, n in _true_runs(sleep) if n >= PERSISTENT_SLEEP_EPOCHS]
    sol_5 = persistent[0] * EPOCH_MINUTES if persistent else nan
    rem_aasm = latency[names[rem]] - sol
    awakenings = sum(1 for _, n in _true_runs(period == wake) if n >= min_awakening_epochs)
  return SleepStats(
      tib_min=tib,
      spt_min=spt if sleep_idx.size else 0.0,
      tst_min=tst,
      waso_min=waso,
      sleep_efficiency_pct=_pct(tst, tib),
      sleep_maintenance_efficiency_pct=sme,
      sleep_fragmentation_index_per_h=sfi,
      sleep_onset_latency_min=sol,
      persistent_sleep_latency_min=sol_5,
      rem_latency_from_sleep_onset_min=rem_aasm,
      awakenings=int(awakenings),
      stage_min=stage_min,
      stage_pct=stage_pct,
      latency_min=latency,
      unscored_min=int((window < 0).sum()) * EPOCH_MINUTES)
