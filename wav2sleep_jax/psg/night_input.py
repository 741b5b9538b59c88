"""One night from a file -> canonical signals on the model's 30-s epoch grid.

Readers for prediction inputs; every signal comes back resampled to the
model's rate (ECG/PPG 1024, ABD/THX 256, EOG 4096 samples per epoch) in
physical units (normalisation happens at prediction time).

* EDF (`.edf`): channels found by canonical name and NSRR aliases (plus the
  cohort's extra labels, guessed from the record id), or by an explicit
  `channel_map` such as {'ECG': ['EKG'], 'THX': ['Thor']} (a mapped signal is
  looked up only under its given labels). Each channel is read at its native
  rate and resampled with anti-aliasing (`data.resample`). Stage labels are read
  when an annotation file sits where the NSRR layout puts it
  (`polysomnography/annotations-events-nsrr/[<visit>/]<id>-nsrr.xml`, else the
  Profusion XML) or beside the EDF (`<id>-nsrr.xml`, `<id>-profusion.xml`,
  WSC `<id>.stg.txt` / `<id>.allscore.txt`).
* CSV (`.csv`) and parquet (`.parquet`): one row per sample, a required `time`
  column (seconds from the recording start, uniformly spaced: the sample rate
  is taken from it) and one column per signal named by its canonical name
  (ECG, PPG, ABD, THX, EOG-L, EOG-R; aliases and `channel_map` apply to column
  names too). All signals share the table's rate; empty cells are NaN (gaps
  are interpolated, an all-empty column is an absent signal). No labels, and
  timestamps are seconds from the start.

Problems that make a night unusable (unreadable or truncated file, shorter
than one epoch, no usable signal) raise `data.errors.PsgError` naming the
file; absent channels and unusable annotations are returned as skip-report
entries while the night is still staged.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import os
import pathlib
from typing import Iterable, Mapping, Sequence

import numpy as np

from wav2sleep_jax.psg import annotations
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import cohorts as cohorts_lib
from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import nights as nights_lib
from wav2sleep_jax.psg import resample
from wav2sleep_jax.psg import skip_report as report_lib

EDF, CSV, PARQUET = 'edf', 'csv', 'parquet'
EXTENSIONS = {'.edf': EDF, '.csv': CSV, '.parquet': PARQUET}
TIME_COLUMN = 'time'
LABELS_IGNORED = 'labels ignored'
# Files that prediction itself writes (never read back as inputs).
OUTPUT_SUFFIXES = ('.preds.csv',)
OUTPUT_NAMES = ('summary.csv', 'skipped.csv')


class TableError(errors.RecordingError):
  """A CSV/parquet night is unreadable or unusable."""

  stage = 'table'


@dataclasses.dataclass(frozen=True)
class NightInput:
  """One night ready for the model.

  Attributes:
    name: output key, the file's path relative to the input root without its
      extension (e.g. 'polysomnography/edfs/shhs1/shhs1-200001').
    path: the input file.
    kind: EDF, CSV or PARQUET.
    signals: present signals, float32 [num_epochs * samples_per_epoch] each.
    num_epochs: complete 30-s epochs.
    start: wall-clock time of the recording start, None if unknown.
    labels: int8 [num_epochs] 5-class scored stages (-1 unscored), or None.
    native_rate_hz: native rate of each present signal.
    entries: skip-report entries (absent channels, ignored labels, notes).
  """

  name: str
  path: str
  kind: str
  signals: Mapping[str, np.ndarray]
  num_epochs: int
  start: datetime.datetime | None = None
  labels: np.ndarray | None = None
  native_rate_hz: Mapping[str, float] = dataclasses.field(default_factory=dict)
  entries: tuple[report_lib.SkipEntry, ...] = ()


def parse_channel_map(items: Iterable[str]) -> dict[str, tuple[str, ...]]:
  """['ECG=EKG', 'THX=Thor', 'ECG=ECG1'] -> {'ECG': ('EKG', 'ECG1'), 'THX': ('Thor',)}.

  Raises:
    ValueError: on an item without '=' or with an unknown signal name.
  """
  mapping: dict[str, tuple[str, ...]] = {}
  for item in items:
    name, sep, label = item.partition('=')
    name, label = name.strip(), label.strip()
    if not sep or not name or not label:
      raise ValueError(f'Channel mapping {item!r} is not SIGNAL=LABEL (e.g. ECG=EKG).')
    if name not in channels_lib.SAMPLES_PER_EPOCH:
      raise ValueError(f'Channel mapping {item!r}: unknown signal {name!r}; known: '
                       f'{list(channels_lib.SIGNAL_NAMES)}.')
    mapping[name] = mapping.get(name, ()) + (label,)
  return mapping


def signal_table(record_id: str = '',
                 channel_map: Mapping[str, Sequence[str]] | None = None
                 ) -> dict[str, channels_lib.SignalSpec]:
  """Aliases to look up: defaults + the cohort's extras, or only the mapped labels."""
  cohort = cohorts_lib.COHORTS.get(cohorts_lib.cohort_of(record_id)) if record_id else None
  table = channels_lib.signal_table(cohort.extra_aliases if cohort else None)
  for name, labels in (channel_map or {}).items():
    table[name] = dataclasses.replace(table[name], aliases=tuple(labels))
  return table


def find_inputs(root: str | os.PathLike[str],
                kinds: Sequence[str] = (EDF, CSV, PARQUET),
                exclude: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
  """(path, name) of every input file at or below `root`, sorted by name.

  `name` is the path relative to `root` without the extension (the stem for a
  single file). Files prediction writes (`*.preds.csv`, `summary.csv`,
  `skipped.csv`) and anything under `exclude` (the output folder) are skipped.
  Two inputs with the same name (`x.edf`, `x.csv`) keep their extension in it.

  Raises:
    FileNotFoundError: if `root` does not exist.
    ValueError: on an unknown kind.
  """
  unknown = sorted(set(kinds) - set(EXTENSIONS.values()))
  if unknown or not kinds:
    raise ValueError(f'Unknown input formats {unknown}; known: {sorted(EXTENSIONS.values())}.')
  root_path = pathlib.Path(root)
  if not root_path.exists():
    raise FileNotFoundError(f'Input {root} does not exist.')
  suffixes = {s for s, k in EXTENSIONS.items() if k in kinds}
  if root_path.is_file():
    return ([(os.fspath(root_path), root_path.stem)]
            if root_path.suffix.lower() in suffixes else [])
  skip = pathlib.Path(exclude).resolve() if exclude is not None else None
  found = []
  for path in sorted(root_path.rglob('*')):
    if not path.is_file() or path.suffix.lower() not in suffixes:
      continue
    if path.name.endswith(OUTPUT_SUFFIXES) or path.name in OUTPUT_NAMES:
      continue
    if skip is not None and path.resolve().is_relative_to(skip):
      continue
    found.append(path)
  stems = [p.relative_to(root_path).with_suffix('').as_posix() for p in found]
  counts = collections.Counter(stems)
  out = [(os.fspath(p), stem if counts[stem] == 1 else p.relative_to(root_path).as_posix())
         for p, stem in zip(found, stems)]
  return sorted(out, key=lambda item: item[1])


def read_night(path: str | os.PathLike[str],
               signals: Sequence[str],
               *,
               name: str | None = None,
               channel_map: Mapping[str, Sequence[str]] | None = None,
               with_labels: bool = True,
               allow_truncated: bool = False) -> NightInput:
  """Reads one EDF, CSV or parquet night (format from the extension).

  Args:
    path: the file.
    signals: canonical signals wanted (the model's, or a subset).
    name: output key (default: the file's stem).
    channel_map: canonical name -> labels (or column names) to use instead of
      the aliases.
    with_labels: look for an annotation file next to an EDF.
    allow_truncated: stage the complete records of a truncated EDF (noted)
      instead of failing.

  Raises:
    PsgError: if the night cannot be staged (see the module docstring).
    ValueError: on an unknown signal name or file extension.
  """
  path = os.fspath(path)
  unknown = [s for s in signals if s not in channels_lib.SAMPLES_PER_EPOCH]
  if unknown or not signals:
    raise ValueError(f'signals must be a non-empty subset of {list(channels_lib.SIGNAL_NAMES)}, '
                     f'got {list(signals)}.')
  kind = EXTENSIONS.get(os.path.splitext(path)[1].lower())
  if kind is None:
    raise ValueError(f'{path}: unsupported file type; expected one of {sorted(EXTENSIONS)}.')
  name = name or pathlib.Path(path).stem
  if kind == EDF:
    return _read_edf(path, name, signals, channel_map, with_labels, allow_truncated)
  return _read_table(path, name, kind, signals, channel_map)


def unusable(kind: str, path: str, reason: str) -> errors.RecordingError:
  """The error for a night of this kind that cannot be staged."""
  return (errors.RecordingError if kind == EDF else TableError)(path, reason)


def _resampled(path: str, kind: str, channels: Mapping[str, tuple[np.ndarray, float]],
               duration_s: float) -> tuple[dict[str, np.ndarray], int]:
  """Resamples {name: (data, rate)} onto the epoch grid -> (signals, num_epochs)."""
  num_epochs = int(np.floor(duration_s / channels_lib.EPOCH_SECONDS + 1e-9))
  if num_epochs < 1:
    raise unusable(kind, path, f'recording lasts {duration_s:g} s, less than one '
                 f'{channels_lib.EPOCH_SECONDS}-s epoch')
  out = {}
  for name, (data, rate) in channels.items():
    out[name] = resample.resample_to_epochs(
        data, rate, channels_lib.SAMPLES_PER_EPOCH[name], max_epochs=num_epochs)
  return out, num_epochs


def _no_signal(path: str, kind: str, problems: Sequence[edf_lib.ChannelProblem]
               ) -> errors.RecordingError:
  reasons = '; '.join(f'{p.name}: {p.reason}' for p in problems)
  return unusable(kind, path, f'no usable signal ({reasons})')


def _read_edf(path: str, name: str, signals: Sequence[str],
              channel_map: Mapping[str, Sequence[str]] | None, with_labels: bool,
              allow_truncated: bool) -> NightInput:
  record_id = pathlib.Path(path).stem
  recording = edf_lib.read_recording(
      path, signals, table=signal_table(record_id, channel_map),
      allow_truncated=allow_truncated)
  report = report_lib.SkipReport()
  for note in recording.notes:
    report.add(name, path, 'edf', note, nights_lib.NOTE)
  report.add_channel_problems(name, recording)
  if not recording.channels:
    raise _no_signal(path, EDF, recording.problems)
  channels = {n: (c.data, c.rate_hz) for n, c in recording.channels.items()}
  x, num_epochs = _resampled(path, EDF, channels, recording.duration_s)
  labels = _labels(path, name, recording, num_epochs, report) if with_labels else None
  return NightInput(
      name=name, path=path, kind=EDF, signals=x, num_epochs=num_epochs,
      start=recording.start, labels=labels,
      native_rate_hz={n: c.rate_hz for n, c in recording.channels.items()},
      entries=report.entries)


def find_annotation(edf_path: str | os.PathLike[str]) -> tuple[str, str] | None:
  """(kind, path) of the stage annotation of an EDF, or None (see module doc)."""
  edf = pathlib.Path(edf_path)
  stem, candidates = edf.stem, []
  parts = edf.parent.parts
  for i in range(len(parts) - 1, 0, -1):
    if parts[i] == 'edfs' and parts[i - 1] == 'polysomnography':
      psg, sub = pathlib.Path(*parts[:i]), pathlib.Path(*parts[i + 1:])
      candidates += [
          (nights_lib.NSRR_XML, psg / 'annotations-events-nsrr' / sub / f'{stem}-nsrr.xml'),
          (nights_lib.PROFUSION_XML,
           psg / 'annotations-events-profusion' / sub / f'{stem}-profusion.xml')]
      break
  candidates += [
      (nights_lib.NSRR_XML, edf.with_name(f'{stem}-nsrr.xml')),
      (nights_lib.PROFUSION_XML, edf.with_name(f'{stem}-profusion.xml')),
      (nights_lib.WSC_STG, edf.with_name(f'{stem}.stg.txt')),
      (nights_lib.WSC_ALLSCORE, edf.with_name(f'{stem}.allscore.txt'))]
  for kind, candidate in candidates:
    if candidate.is_file():
      return kind, os.fspath(candidate)
  return None


def _labels(path: str, name: str, recording: edf_lib.Recording, num_epochs: int,
            report: report_lib.SkipReport) -> np.ndarray | None:
  """Scored stages aligned to the night, or None (problems go to `report`)."""
  found = find_annotation(path)
  if found is None:
    return None
  kind, ann_path = found
  try:
    labels = nights_lib.read_annotation(kind, ann_path, recording).labels
  except errors.PsgError as e:
    report.add(name, e.path, e.stage, e.reason, LABELS_IGNORED)
    return None
  if not (labels >= 0).any():
    report.add(name, ann_path, 'annotation', 'no scored epoch', LABELS_IGNORED)
    return None
  if len(labels) != num_epochs:
    longer = len(labels) > num_epochs
    report.add(name, ann_path, 'alignment',
               f'annotation {"longer" if longer else "shorter"} than signals: '
               f'{len(labels)} epochs scored, recording has {num_epochs}',
               nights_lib.LABELS_CROPPED if longer else nights_lib.LABELS_PADDED)
  return annotations.align_labels(labels, num_epochs)


def _read_columns(path: str, kind: str) -> dict[str, np.ndarray]:
  """All columns of a CSV/parquet table as float64 arrays (TableError if unreadable)."""
  import pyarrow as pa

  try:
    if kind == CSV:
      from pyarrow import csv as pa_csv
      table = pa_csv.read_csv(path)
    else:
      from pyarrow import parquet as pa_parquet
      table = pa_parquet.read_table(path)
  except (pa.ArrowException, OSError) as e:
    raise TableError(path, f'cannot read {kind} table: {e}') from e
  columns = {}
  for column in table.column_names:
    key = TIME_COLUMN if column.strip().casefold() == TIME_COLUMN else column
    try:
      columns[key] = table[column].cast(pa.float64()).to_numpy()
    except (pa.ArrowException, ValueError):
      columns[key] = None  # Not numeric: an error only if it is used.
  return columns


def _sample_rate(path: str, time: np.ndarray | None) -> float:
  """Rate of a uniformly spaced `time` column (TableError otherwise)."""
  if time is None:
    raise TableError(path, f'no numeric {TIME_COLUMN!r} column (seconds from start)')
  if len(time) < 2 or not np.isfinite(time).all():
    raise TableError(
        path, f'{TIME_COLUMN!r} column needs at least 2 finite values')
  step_s = (time[-1] - time[0]) / (len(time) - 1)
  steps = np.diff(time)
  if not step_s > 0 or np.abs(steps - step_s).max() > 0.01 * step_s:
    raise TableError(
        path, f'{TIME_COLUMN!r} column is not uniformly increasing (steps from '
        f'{steps.min():g} to {steps.max():g} s)')
  return 1.0 / step_s


def _read_table(path: str, name: str, kind: str, signals: Sequence[str],
                channel_map: Mapping[str, Sequence[str]] | None) -> NightInput:
  columns = _read_columns(path, kind)
  labels = [c for c in columns if c != TIME_COLUMN]
  rate = _sample_rate(path, columns.get(TIME_COLUMN))
  table = signal_table('', channel_map)
  report = report_lib.SkipReport()
  channels, problems, taken = {}, [], set()
  for signal in signals:
    free = [label if i not in taken else '\0' for i, label in enumerate(labels)]
    index = edf_lib.find_channel(free, table[signal].aliases)
    if index is None:
      problems.append(edf_lib.ChannelProblem(
          signal, None, f'no column named any of {list(table[signal].aliases)}'))
      continue
    taken.add(index)
    data = columns[labels[index]]
    reason = 'not numeric' if data is None else edf_lib.check_samples(data)
    if reason is not None:
      problems.append(edf_lib.ChannelProblem(signal, labels[index], reason))
      continue
    channels[signal] = (data, rate)
  for p in problems:
    column = f' (column {p.label!r})' if p.label else ''
    report.add(name, path, 'channel', f'{p.name}{column}: {p.reason}', report_lib.CHANNEL_ABSENT)
  if not channels:
    raise _no_signal(path, kind, problems)
  num_samples = len(columns[TIME_COLUMN])
  x, num_epochs = _resampled(path, kind, channels, num_samples / rate)
  return NightInput(name=name, path=path, kind=kind, signals=x, num_epochs=num_epochs,
                    native_rate_hz={n: rate for n in channels}, entries=report.entries)
