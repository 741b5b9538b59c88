"""One night's files -> the canonical night: the one reader of builders, predict and smoke.

    options = NightOptions(signals=('ECG', 'THX'))       # builder defaults
    night = read_night(edf, options, annotation=cohort_files.find_annotation(edf))
    night.signals['ECG']   # float32 [num_epochs * 1024], physical units
    night.labels           # int8 [num_epochs] (0 W .. 4 REM, -1 unscored) or None
    night.entries          # SkipEntry per absent channel, note, ignored label

Input is an EDF (also UCDDB's '.rec') or a WFDB record (its '.hea'; signals read by
the `wfdb` package, `psg.wfdb`), channels found by canonical name, NSRR and cohort
aliases, or `channel_map`, plus an optional stage annotation file (NSRR, WSC, or the
open datasets' `.st`, `.arousal`, `_sleepscoring.edf`, `_stage.txt`), or a
CSV/parquet table (`table_files`, no labels). Every present signal is resampled with
anti-aliasing onto the model's 30-s epoch grid (ECG/PPG 1024, ABD/THX 256, EOG
4096 samples per epoch) and cropped to `max_hours`; labels are aligned to the
signal epochs (-1 beyond the scoring). A channel is absent (entry) when
missing, flat, all-NaN or with a broken physical range.

A night that cannot be used raises `PsgError` naming the file, with `stage`
naming the failed check and `entries` the report entries found before it:
an unreadable, corrupt or truncated file ('edf' / 'table'), shorter than one
epoch, no usable signal ('channel'); with `require_labels` also a missing or
malformed annotation ('annotation'), no scored epoch and (option)
sleep/wake-only scoring ('exclusion'). Without `require_labels` those label
problems are 'labels ignored' entries and the night is kept unscored.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
from typing import Mapping, Sequence

import numpy as np

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.psg import annotations
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import cohorts as cohorts_lib
from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import open_scoring
from wav2sleep_jax.psg import reference_grid
from wav2sleep_jax.psg import resample
from wav2sleep_jax.psg import table_files
from wav2sleep_jax.psg import skip_report as report_lib
from wav2sleep_jax.psg import wfdb

EDF, WFDB, CSV, PARQUET = 'edf', 'wfdb', 'csv', 'parquet'
# '.rec' is EDF (UCDDB); a WFDB record is read through its '.hea' header.
EXTENSIONS = {'.edf': EDF, '.rec': EDF, '.hea': WFDB, '.csv': CSV, '.parquet': PARQUET}
SIGNAL_KINDS = (EDF, WFDB)

NSRR_XML = 'nsrr_xml'
PROFUSION_XML = 'profusion_xml'
WSC_STG = 'wsc_stg'
WSC_ALLSCORE = 'wsc_allscore'
SLPDB_ST = 'slpdb_st'
CINC2018_AROUSAL = 'cinc2018_arousal'
HMC_SCORING = 'hmc_scoring'
UCDDB_STAGE = 'ucddb_stage'

NOTE = 'note'
LABELS_CROPPED = 'labels cropped'
LABELS_PADDED = 'labels padded with -1'
LABELS_IGNORED = 'labels ignored'
NOT_STAGED = 'not staged'


@dataclasses.dataclass(frozen=True)
class NightOptions:
  """How a night is read (defaults: the dataset builders').

  Attributes:
    signals: canonical signals wanted.
    max_hours: crop nights to this length (None: never).
    extra_aliases: canonical name -> extra EDF labels, tried after the default
      and cohort aliases (or instead of them if `replace_aliases`).
    replace_aliases: see `extra_aliases`.
    channel_map: canonical name -> the only labels (or column names) to try.
    require_labels: label problems skip the night (else: 'labels ignored').
    exclude_sleep_wake_only: a label problem if no N1, N3 or REM epoch.
    allow_truncated: keep the complete records of a truncated EDF (noted).
    preprocessing: how signals reach the epoch grid: ours (anti-aliased
      resampling, the night's own length cropped to `max_hours`) or `reference`
      (the reference's channel lookup, units and fixed grid of its own
      `max_hours`; `max_hours` above is then not used).
    reference_join_order: `reference`: the signal order of the reference's join of
      the grids, which orders each signal's samples (`reference_grid.in_joined_order`):
      None = `signals` (its predict tool: the model's signal order);
      `reference_grid.TRAINING_COLUMN_ORDER` for records (its training ingest).
  """

  signals: tuple[str, ...] = grid.CARDIORESPIRATORY
  max_hours: float | None = 10.0
  extra_aliases: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
  replace_aliases: bool = False
  channel_map: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
  require_labels: bool = True
  exclude_sleep_wake_only: bool = True
  allow_truncated: bool = False
  preprocessing: prep_lib.Preprocessing = prep_lib.Preprocessing()
  reference_join_order: tuple[str, ...] | None = None

  def __post_init__(self):
    unknown = sorted(set(self.signals) - set(channels_lib.SIGNAL_NAMES))
    if unknown or not self.signals:
      raise ValueError(f'signals must be a non-empty subset of '
                       f'{list(channels_lib.SIGNAL_NAMES)}, got {list(self.signals)}.')
    if self.max_hours is not None and not self.max_hours > 0:
      raise ValueError(f'max_hours must be > 0, got {self.max_hours}')

  @property
  def max_epochs(self) -> int | None:
    if self.preprocessing.is_reference:
      return self.preprocessing.grid_epochs
    if self.max_hours is None:
      return None
    return int(round(self.max_hours * 3600)) // channels_lib.EPOCH_SECONDS

  def table(self, cohort: cohorts_lib.Cohort | None) -> dict[str, channels_lib.SignalSpec]:
    """Signal table: cohort aliases, then `extra_aliases`, then `channel_map`."""
    table = channels_lib.signal_table(cohort.extra_aliases if cohort else None)
    for name, labels in self.extra_aliases.items():
      if name not in table:
        raise ValueError(f'Aliases for unknown signal {name!r}; known: {list(table)}')
      if isinstance(labels, str):
        raise ValueError(f'Aliases for {name} must be a list of labels.')
      kept = (name,) if self.replace_aliases else table[name].aliases
      table[name] = dataclasses.replace(table[name], aliases=tuple(dict.fromkeys((*kept, *labels))))
    for name, labels in self.channel_map.items():
      table[name] = dataclasses.replace(table[name], aliases=tuple(labels))
    return table


@dataclasses.dataclass(frozen=True)
class Night:
  """One night on the model's epoch grid.

  Attributes:
    record_id: the night's key (record id, or predict's output name).
    path: the signal file.
    kind: EDF, WFDB, CSV or PARQUET.
    cohort: cohort name ('' if unknown).
    signals: present signals only, float32 [num_epochs * samples_per_epoch].
    num_epochs: complete 30-s epochs (after cropping).
    labels: int8 [num_epochs] scored stages (-1 unscored), or None.
    start: wall-clock recording start, None if unknown.
    native_rate_hz: per present signal.
    units: per present signal (EDF physical dimension; '' for tables).
    entries: report entries (absent channels, notes, label alignment).
    recorded_epochs: `reference` preprocessing: the night's complete epochs on the
      grid (num_epochs is the whole grid; the rest is zero fill); None otherwise.
    epochs_left_out: complete epochs of the recording beyond the grid (not staged).
  """

  record_id: str
  path: str
  kind: str
  cohort: str
  signals: Mapping[str, np.ndarray]
  num_epochs: int
  labels: np.ndarray | None = None
  start: datetime.datetime | None = None
  native_rate_hz: Mapping[str, float] = dataclasses.field(default_factory=dict)
  units: Mapping[str, str] = dataclasses.field(default_factory=dict)
  entries: tuple[report_lib.SkipEntry, ...] = ()
  recorded_epochs: int | None = None
  epochs_left_out: int = 0

  @property
  def night_epochs(self) -> int:
    """Epochs that are the night's own (outputs have this many rows)."""
    return self.num_epochs if self.recorded_epochs is None else self.recorded_epochs

  @property
  def name(self) -> str:
    return self.record_id

  @property
  def start_time(self) -> str:
    """ISO 8601 start ('' if unknown)."""
    return self.start.isoformat() if self.start else ''


def read_annotation(kind: str, path: str | os.PathLike[str],
                    recording: edf_lib.Recording) -> annotations.Hypnogram:
  """Reads an annotation file of `kind` (NSRR_XML, ...) for `recording`.

  Raises:
    AnnotationError: if the file is malformed.
  """
  if kind == NSRR_XML:
    return annotations.read_nsrr_xml(path)
  if kind == PROFUSION_XML:
    return annotations.read_profusion_xml(path)
  if kind == WSC_STG:
    edf_start = recording.start.time() if recording.start else None
    return annotations.read_wsc_stg(path, edf_start=edf_start)
  if kind == WSC_ALLSCORE:
    return annotations.read_wsc_allscore(path, n_epochs=recording.num_epochs)
  if kind == SLPDB_ST:
    return annotations.read_wfdb_stages(path)
  if kind == CINC2018_AROUSAL:
    return open_scoring.read_cinc2018_arousal(path)
  if kind == HMC_SCORING:
    return open_scoring.read_hmc_scoring(path, recording.start)
  if kind == UCDDB_STAGE:
    return open_scoring.read_ucddb_stages(path)
  raise ValueError(f'Unknown annotation kind {kind!r}')


def unusable(kind: str, path: str, reason: str, stage: str | None = None) -> errors.RecordingError:
  """The error for a night of this kind that cannot be used."""
  cls = errors.RecordingError if kind in SIGNAL_KINDS else table_files.TableError
  return cls(path, reason, stage=stage)


def read_night(path: str | os.PathLike[str],
               options: NightOptions,
               *,
               record_id: str | None = None,
               cohort: cohorts_lib.Cohort | None = None,
               annotation: tuple[str, str] | None = None) -> Night:
  """Reads one EDF, WFDB, CSV or parquet night (format from the extension).

  Args:
    path: the signal file.
    options: what to read and how.
    record_id: the night's key (default: the file's stem).
    cohort: for its aliases; default: guessed from the record id (NSRR ids, the open
      datasets' record names).
    annotation: (kind, path) of the EDF's stage annotation, or None.

  Raises:
    PsgError: the night cannot be used (see the module docstring).
    ValueError: on an unsupported file extension.
  """
  path = os.fspath(path)
  kind = EXTENSIONS.get(os.path.splitext(path)[1].lower())
  if kind is None:
    raise ValueError(f'{path}: unsupported file type; expected one of {sorted(EXTENSIONS)}.')
  record_id = record_id or pathlib.Path(path).stem
  report = report_lib.SkipReport()
  try:
    if kind in SIGNAL_KINDS:
      if cohort is None:
        stem = pathlib.Path(path).stem
        cohort = (
            cohorts_lib.COHORTS.get(cohorts_lib.cohort_of(stem))
            or cohorts_lib.guess_open_cohort(stem))
      return _read_signals(path, kind, record_id, options, cohort, annotation, report)
    return _read_table(path, record_id, kind, options, report)
  except errors.PsgError as e:
    e.entries = report.entries
    raise


def _read_signals(path: str, kind: str, record_id: str, options: NightOptions,
                  cohort: cohorts_lib.Cohort | None, annotation: tuple[str, str] | None,
                  report: report_lib.SkipReport) -> Night:
  """An EDF or a WFDB record (`.hea`) with its stage annotation."""
  if kind == WFDB:
    recording = wfdb.read_recording(path, options.signals, table=options.table(cohort))
  else:
    recording = edf_lib.read_recording(
        path,
        options.signals,
        table=options.table(cohort),
        allow_truncated=options.allow_truncated,
        reference_lookup=options.preprocessing.is_reference)
  for note in recording.notes:
    report.add(record_id, path, kind, note, NOTE)
  num_epochs = _num_epochs(path, kind, recording.duration_s, options)
  labels, start = _labels(record_id, path, recording, annotation, num_epochs, options, report)
  report.add_channel_problems(record_id, recording)
  channels = {
      n: _Samples(c.data, c.rate_hz, c.unit, c.physical_range)
      for n, c in recording.channels.items()
  }
  return Night(
      record_id,
      path,
      kind,
      cohort.name if cohort else '',
      _on_grid(path, kind, channels, recording.problems, num_epochs, options),
      num_epochs,
      labels=labels,
      start=recording.start or start,
      native_rate_hz={
          n: c.rate_hz for n, c in recording.channels.items()
      },
      units={
          n: c.unit for n, c in recording.channels.items()
      },
      **_grid_extent(record_id, path, kind, recording.duration_s, options, report),
      entries=report.entries)


def _read_table(path: str, record_id: str, kind: str, options: NightOptions,
                report: report_lib.SkipReport) -> Night:
  samples, problems, duration_s = table_files.read_channels(path, options.signals,
                                                            options.table(None))
  for p in problems:
    column = f' (column {p.label!r})' if p.label else ''
    report.add(record_id, path, 'channel', f'{p.name}{column}: {p.reason}',
               report_lib.CHANNEL_ABSENT)
  num_epochs = _num_epochs(path, kind, duration_s, options)
  channels = {n: _Samples(x, r, '', None) for n, (x, r) in samples.items()}
  return Night(
      record_id,
      path,
      kind,
      '',
      _on_grid(path, kind, channels, problems, num_epochs, options),
      num_epochs,
      native_rate_hz={
          n: r for n, (_, r) in samples.items()
      },
      units={n: '' for n in samples},
      **_grid_extent(record_id, path, kind, duration_s, options, report),
      entries=report.entries)


@dataclasses.dataclass(frozen=True)
class _Samples:
  """A channel at its native rate, with what the reference's unit scaling reads."""

  data: np.ndarray
  rate_hz: float
  unit: str
  physical_range: tuple[float, float] | None


def _grid_extent(record_id: str, path: str, kind: str, duration_s: float, options: NightOptions,
                 report: report_lib.SkipReport) -> dict[str, int]:
  """`reference`: {recorded_epochs, epochs_left_out}, noting a night longer than the grid."""
  if not options.preprocessing.is_reference:
    return {}
  complete = int(np.floor(duration_s / channels_lib.EPOCH_SECONDS + 1e-9))
  grid_epochs = options.preprocessing.grid_epochs
  left_out = max(complete - grid_epochs, 0)
  if left_out:
    report.add(
        record_id, path, kind, f'night of {complete / 120:.2f} h is longer than the '
        f'{options.preprocessing.max_hours:g}-h grid of reference preprocessing: '
        f'its last {left_out / 120:.2f} h ({left_out} epochs) are not staged '
        '(raise --max_hours to stage them)', NOT_STAGED)
  return dict(recorded_epochs=min(complete, grid_epochs), epochs_left_out=left_out)


def _num_epochs(path: str, kind: str, duration_s: float, options: NightOptions) -> int:
  """Complete epochs, cropped to `max_hours`; `reference`: the grid (RecordingError if
  the recording is shorter than one epoch)."""
  num_epochs = int(np.floor(duration_s / channels_lib.EPOCH_SECONDS + 1e-9))
  if num_epochs < 1:
    raise unusable(
        kind, path, f'recording lasts {duration_s:g} s, less than one '
        f'{channels_lib.EPOCH_SECONDS}-s epoch')
  if options.preprocessing.is_reference:
    return options.preprocessing.grid_epochs
  return num_epochs if options.max_epochs is None else min(num_epochs, options.max_epochs)


def _on_grid(path: str, kind: str, channels: Mapping[str, _Samples],
             problems: Sequence[edf_lib.ChannelProblem], num_epochs: int,
             options: NightOptions) -> dict[str, np.ndarray]:
  """Channels on the epoch grid (ours or the reference's); 'no usable signal' if none."""
  if not channels:
    reasons = '; '.join(f'{p.name}: {p.reason}' for p in problems)
    raise unusable(kind, path, f'no usable signal ({reasons})', stage='channel')
  prep = options.preprocessing
  if prep.is_reference:
    on_grid = {
        name:
            reference_grid.channel_on_grid(name, c.data, c.rate_hz, c.unit, c.physical_range,
                                           prep.max_hours) for name, c in channels.items()
    }
    return reference_grid.in_joined_order(on_grid, options.reference_join_order or options.signals,
                                          prep.grid_epochs)
  return {
      name:
          resample.resample_to_epochs(
              c.data, c.rate_hz, channels_lib.SAMPLES_PER_EPOCH[name], max_epochs=num_epochs)
      for name, c in channels.items()
  }


def _excluded(path: str, reason: str) -> errors.AnnotationError:
  return errors.AnnotationError(path, reason, stage='exclusion')


def _labels(record_id: str, path: str, recording: edf_lib.Recording,
            annotation: tuple[str, str] | None, num_epochs: int, options: NightOptions,
            report: report_lib.SkipReport) -> tuple[np.ndarray | None, datetime.datetime | None]:
  """(aligned labels, annotation start); a problem skips the night or is an entry."""
  try:
    return _aligned_labels(record_id, path, recording, annotation, num_epochs, options, report)
  except errors.PsgError as e:
    if options.require_labels:
      raise
    report.add(record_id, e.path, e.stage, e.reason, LABELS_IGNORED)
    return None, None


def _aligned_labels(
    record_id: str, path: str, recording: edf_lib.Recording, annotation: tuple[str, str] | None,
    num_epochs: int, options: NightOptions,
    report: report_lib.SkipReport) -> tuple[np.ndarray | None, datetime.datetime | None]:
  """Reads and aligns the labels (AnnotationError on a label problem)."""
  if annotation is None:
    if options.require_labels:
      raise errors.AnnotationError(path, 'no annotation file found')
    return None, None
  kind, ann_path = annotation
  hypnogram = read_annotation(kind, ann_path, recording)
  labels = hypnogram.labels
  for note in hypnogram.notes:
    report.add(record_id, ann_path, 'alignment', note, NOTE)
  if not (labels >= 0).any():
    raise _excluded(ann_path, 'no scored epoch')
  if options.exclude_sleep_wake_only and annotations.is_sleep_wake_only(labels):
    raise _excluded(ann_path, 'sleep/wake-only scoring (no N1, N3 or REM epoch)')
  if len(labels) != recording.num_epochs:
    longer = len(labels) > recording.num_epochs
    report.add(
        record_id, ann_path, 'alignment',
        f'annotation {"longer" if longer else "shorter"} than signals: '
        f'{len(labels)} epochs scored, EDF has {recording.num_epochs}',
        LABELS_CROPPED if longer else LABELS_PADDED)
  labels = annotations.align_labels(labels, num_epochs)
  if not (labels >= 0).any():
    raise _excluded(ann_path, f'no scored epoch within the first {num_epochs} epochs')
  return labels, hypnogram.start_time
