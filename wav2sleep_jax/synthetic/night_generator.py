"""One synthetic night: hypnogram, events and every EDF channel of a cohort at its native rate."""

import dataclasses
import datetime
import zlib

import numpy as np

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.synthetic import ecg
from wav2sleep_jax.synthetic import eeg
from wav2sleep_jax.synthetic import events as events_lib
from wav2sleep_jax.synthetic import eye_movements
from wav2sleep_jax.synthetic import layouts
from wav2sleep_jax.synthetic import oximetry
from wav2sleep_jax.synthetic import physiology
from wav2sleep_jax.synthetic import ppg
from wav2sleep_jax.synthetic import respiration
from wav2sleep_jax.synthetic import scorer_codes as codes_lib
from wav2sleep_jax.synthetic import stage_sequence


@dataclasses.dataclass(frozen=True)
class Channel:
  """One EDF signal in physical units (already clipped to its physical range)."""
  label: str
  source: str  # Canonical signal this channel carries (e.g. 'ECG', 'THX', 'SpO2').
  data: np.ndarray  # float32 [duration_s * rate].
  rate: int
  unit: str
  physical_range: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Night:
  """A generated recording.

  `labels` are 5-class per 30-s epoch (0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 unscored);
  `stage_codes` are what the scorer wrote (`scorer_codes`: NSRR codes 0-5, 4 = R&K stage 4,
  9 = unscored).
  """
  cohort: str
  record_id: str
  visit: str
  start_time: datetime.datetime
  channels: dict[str, Channel]  # Keyed by EDF label, in EDF order.
  labels: np.ndarray  # int8 [epochs].
  stage_codes: np.ndarray  # int8 [epochs].
  events: list[events_lib.Event]

  @property
  def duration_s(self) -> float:
    return float(grid.EPOCH_SECONDS * len(self.labels))

  @property
  def signals(self) -> dict[str, tuple[np.ndarray, int]]:
    """{label: (data, native rate)}."""
    return {k: (c.data, c.rate) for k, c in self.channels.items()}


def night_seed(cohort: str, seed: int, night_index: int, visit: str) -> np.random.SeedSequence:
  """Stable seed for (cohort, seed, night index, visit), independent of Python's hash()."""
  return np.random.SeedSequence(
      [seed, zlib.crc32(cohort.encode()), night_index,
       zlib.crc32(visit.encode())])


def to_stage_codes(labels: np.ndarray, rk_stage4: bool, rng: np.random.Generator) -> np.ndarray:
  """Scorer codes for 5-class labels; R&K cohorts score the deepest N3 epochs as stage 4."""
  codes = codes_lib.CODE_OF_LABEL[np.clip(labels, 0, len(codes_lib.CODE_OF_LABEL) - 1)]
  codes[labels < 0] = codes_lib.UNSCORED_CODE
  if rk_stage4:
    n3 = labels == stage_sequence.N3
    inner = n3 & np.roll(n3, 1) & np.roll(n3, -1)  # Not at the edge of an N3 run.
    codes[inner & (rng.random(len(labels)) < 0.6)] = codes_lib.RK_STAGE4_CODE
  return codes


def generate_night(cohort: 'str | layouts.CohortSpec',
                   seed: int = 0,
                   night_index: int = 0,
                   hours: float | None = None,
                   visit: str | None = None,
                   stage_contrast: float = 1.0) -> Night:
  """Generates night `night_index` of `cohort` (deterministic in all arguments).

  Args:
    cohort: cohort name ('shhs', 'mesa', 'cfs', 'ccshs', 'chat', 'mros', 'wsc') or a CohortSpec.
    seed: global seed.
    night_index: participant index within the cohort (record id number offset).
    hours: recording length; drawn from the cohort's population when None. Short nights (e.g.
      0.5 h) keep a compressed but complete sleep architecture.
    visit: visit name (defaults to the cohort's first visit).
    stage_contrast: how strongly stages shape heart rate, HRV, breathing and vascular tone
      (1 = realistic; larger values make every signal easier to stage).
  """
  if not stage_contrast > 0:
    raise ValueError(f'stage_contrast must be positive, got {stage_contrast}.')
  spec = layouts.get(cohort)
  visit = visit or spec.visits[0]
  seeds = night_seed(spec.name, seed, night_index, visit).spawn(8)
  r_meta, r_hyp, r_ev, r_phys, r_eeg, _, r_codes, r_extra = [
      np.random.default_rng(s) for s in seeds
  ]
  population = spec.population
  if hours is None:
    hours = float(np.clip(r_meta.normal(population.hours_in_bed, 0.6), 6.0, 11.0))
  n_epochs = max(int(round(hours * 120)), 1)
  start = datetime.datetime(1985, 1, 1, 21, 0,
                            0) + datetime.timedelta(seconds=int(r_meta.integers(0, 150 * 60)))
  spo2_baseline = float(np.round(r_meta.normal(96.5 if population.name != 'older' else 95.0, 1.0)))

  labels = stage_sequence.simulate(r_hyp, n_epochs, population)
  events = events_lib.simulate(r_ev, labels, population, spo2_baseline)
  drivers = physiology.simulate(r_phys, labels, events, population, spo2_baseline, stage_contrast)
  specs = spec.channels_for(visit)
  brain = eeg.simulate(r_eeg, drivers) if any(
      c.source in ('EEG', 'EOG-L', 'EOG-R') for c in specs) else None

  duration = int(n_epochs * grid.EPOCH_SECONDS)
  # One independent stream per channel source so that adding a channel changes nothing else.
  sources = sorted(layouts.SOURCE_UNITS)
  chan_rngs = {
      src: np.random.default_rng(s) for src, s in zip(sources, seeds[5].spawn(len(sources)))
  }
  rendered: dict[str, np.ndarray] = {}
  channels: dict[str, Channel] = {}
  for c in specs:
    n = duration * c.rate
    key = (c.source, c.rate)
    if key not in rendered:
      rendered[key] = _render(c.source, chan_rngs[c.source], drivers, events, brain, c.rate, n)
      if c.source == 'EOG-L':
        rendered[('EOG-R', c.rate)] = rendered[key][1]
        rendered[key] = rendered[key][0]
    x = rendered[key] * np.float32(c.unit_factor())
    lo, hi = c.physical_range
    label = c.label
    if c.alt_labels:
      label = ((c.label,) + c.alt_labels)[int(r_extra.integers(0, len(c.alt_labels) + 1))]
    channels[label] = Channel(label, c.source,
                              np.clip(x, lo, hi).astype(np.float32), c.rate, c.unit,
                              c.physical_range)
  codes = to_stage_codes(labels, spec.rk_stage4, r_codes)
  return Night(spec.name, spec.record_id(night_index, visit), visit, start, channels, labels, codes,
               events)


def _render(source, rng, drivers, events, brain, fs, n):
  if source in ('ECG', 'ECG2', 'ECG3'):
    return ecg.render(rng, drivers, fs, n)
  if source == 'PPG':
    return ppg.render(rng, drivers, fs, n)
  if source in (respiration.THX, respiration.ABD):
    return respiration.render(rng, drivers, source, fs, n)
  if source == 'EOG-L':
    return eye_movements.render(rng, drivers, brain, fs, n)
  if source == 'EOG-R':
    raise ValueError('EOG-R must follow EOG-L at the same rate in the channel table.')
  if source == 'EEG':
    return eeg.render(rng, drivers, brain, fs, n)
  if source == 'SpO2':
    return oximetry.spo2(rng, drivers, events, fs, n)
  if source == 'HR':
    return oximetry.pulse_rate(drivers, fs, n)
  if source == 'POS':
    return oximetry.position(rng, drivers, fs, n)
  raise ValueError(f'Unknown signal source {source!r}.')
