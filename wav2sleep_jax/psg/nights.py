"""Night assembly for dataset builders: files of one night -> one stored example.

    files = find_nights(manual_dir, cohorts.get('shhs'))
    result = assemble_night(files[0], cohorts.get('shhs'), NightOptions())
    result.night        # None if the night was skipped
    result.entries      # SkipEntry per skipped night / absent channel / note
    example = to_example(result.night, NightOptions().signals)

A night is read from its EDF at native rates, each model signal resampled onto
the 30-s epoch grid and cropped to `max_hours` (nights are stored at their
natural length up to that cap; padding happens in the input pipeline). Labels
are aligned to the signal epochs (-1 beyond the scoring). A channel is absent
when missing, flat, all-NaN or with a broken physical range; the night is
skipped, with its reason in the skip report, on an unreadable, corrupt (size not
header + records x record size, record duration <= 0) or truncated EDF,
a malformed annotation (bad XML, stage runs off the 30-s grid, unknown stage
concepts), no usable signal, no scored epoch, or sleep/wake-only scoring.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Sequence

import numpy as np

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.psg import annotations
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import cohorts as cohorts_lib
from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import resample
from wav2sleep_jax.psg import skip_report as report_lib

NSRR_XML = 'nsrr_xml'
PROFUSION_XML = 'profusion_xml'
WSC_STG = 'wsc_stg'
WSC_ALLSCORE = 'wsc_allscore'

LABELS_CROPPED = 'labels cropped'
LABELS_PADDED = 'labels padded with -1'
NOTE = 'note'


# --- Finding the files of each night ---------------------------------------


@dataclasses.dataclass(frozen=True)
class NightFiles:
  """The files of one night, relative to the cohort folder `root`.

  Attributes:
    record_id: e.g. 'shhs1-200001' (the EDF's stem).
    cohort: cohort name.
    root: the cohort folder (an NSRR download of that cohort).
    edf: EDF path relative to `root`.
    annotations: (kind, path relative to `root`) of the existing annotation
      files, preferred first; empty if there is none.
  """

  record_id: str
  cohort: str
  root: str
  edf: str
  annotations: tuple[tuple[str, str], ...]

  def path(self, relative: str) -> str:
    return os.path.join(self.root, relative)


def cohort_root(manual_dir: str | os.PathLike[str], cohort: str) -> str:
  """The cohort folder: `manual_dir` itself or `manual_dir/<cohort>`."""
  manual_dir = os.fspath(manual_dir)
  if os.path.isdir(os.path.join(manual_dir, 'polysomnography')):
    return manual_dir
  nested = os.path.join(manual_dir, cohort)
  if os.path.isdir(nested):
    return nested
  return manual_dir


def _edfs(folder: str) -> list[str]:
  """EDF files below `folder` (any depth), sorted."""
  found = []
  for parent, dirs, files in os.walk(folder):
    dirs.sort()
    found += [os.path.join(parent, f) for f in files
              if f.lower().endswith('.edf')]
  return sorted(found)


def _existing(root: str, *candidates: tuple[str, str]) -> tuple[tuple[str, str], ...]:
  return tuple((kind, rel) for kind, rel in candidates
               if os.path.isfile(os.path.join(root, rel)))


def find_nights(manual_dir: str | os.PathLike[str],
                cohort: cohorts_lib.Cohort) -> list[NightFiles]:
  """Lists the nights of a cohort download, sorted by record id.

  NSRR layout: every `polysomnography/edfs/[<sub>/]<id>.edf`, with
  `annotations-events-nsrr/[<sub>/]<id>-nsrr.xml` (else the Profusion XML).
  WSC layout: every `**/<id>.edf`, with sibling `<id>.stg.txt` (else
  `<id>.allscore.txt`). Nights without an annotation file are listed too (the
  build reports them).

  Raises:
    FileNotFoundError: if the folder does not hold the cohort's layout.
  """
  root = cohort_root(manual_dir, cohort.name)
  psg = os.path.join(root, 'polysomnography')
  if cohort.layout == cohorts_lib.NSRR_LAYOUT:
    edf_dir = os.path.join(psg, 'edfs')
    if not os.path.isdir(edf_dir):
      raise FileNotFoundError(
          f'{edf_dir} not found: expected the NSRR download of {cohort.name} '
          '(polysomnography/edfs/, polysomnography/annotations-events-nsrr/).')
  else:
    edf_dir = root
    if not os.path.isdir(edf_dir):
      raise FileNotFoundError(f'{edf_dir} not found.')
  nights = []
  for path in _edfs(edf_dir):
    rel = os.path.relpath(path, root)
    record_id = os.path.splitext(os.path.basename(path))[0]
    if cohort.layout == cohorts_lib.NSRR_LAYOUT:
      sub = os.path.relpath(os.path.dirname(path), edf_dir)
      sub = '' if sub == '.' else sub
      found = _existing(
          root,
          (NSRR_XML, os.path.join('polysomnography', 'annotations-events-nsrr',
                                  sub, f'{record_id}-nsrr.xml')),
          (PROFUSION_XML, os.path.join(
              'polysomnography', 'annotations-events-profusion', sub,
              f'{record_id}-profusion.xml')))
    else:
      base = os.path.splitext(rel)[0]
      found = _existing(root, (WSC_STG, f'{base}.stg.txt'),
                        (WSC_ALLSCORE, f'{base}.allscore.txt'))
    nights.append(NightFiles(record_id, cohort.name, root, rel, found))
  return sorted(nights, key=lambda n: n.record_id)


# --- Assembling one night ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NightOptions:
  """How nights are assembled (builder config values).

  Attributes:
    signals: canonical signals stored per example (features exist for all of
      them; those a cohort cannot have are always absent).
    max_hours: nights are cropped to this length (not padded).
    extra_aliases: canonical name -> extra EDF labels, tried after the
      default and cohort aliases (or instead of them if `replace_aliases`).
    replace_aliases: see `extra_aliases`.
    exclude_sleep_wake_only: skip nights without any N1, N3 or REM epoch.
    allow_truncated: keep the complete records of a truncated EDF (noted in
      the report) instead of skipping the night.
  """

  signals: tuple[str, ...] = grid.CARDIORESPIRATORY
  max_hours: float = 10.0
  extra_aliases: Mapping[str, Sequence[str]] = dataclasses.field(
      default_factory=dict)
  replace_aliases: bool = False
  exclude_sleep_wake_only: bool = True
  allow_truncated: bool = False

  def __post_init__(self):
    unknown = sorted(set(self.signals) - set(channels_lib.SIGNAL_NAMES))
    if unknown or not self.signals:
      raise ValueError(f'signals must be a non-empty subset of '
                       f'{list(channels_lib.SIGNAL_NAMES)}, got {self.signals}')
    if not self.max_hours > 0:
      raise ValueError(f'max_hours must be > 0, got {self.max_hours}')

  @property
  def max_epochs(self) -> int:
    return int(round(self.max_hours * 3600)) // channels_lib.EPOCH_SECONDS

  def table(self, cohort: cohorts_lib.Cohort
            ) -> dict[str, channels_lib.SignalSpec]:
    """Signal table with the cohort's and then these extra aliases."""
    table = channels_lib.signal_table(cohort.extra_aliases)
    for name, labels in self.extra_aliases.items():
      if name not in table:
        raise ValueError(f'Aliases for unknown signal {name!r}; known: '
                         f'{list(table)}')
      if isinstance(labels, str):
        raise ValueError(f'Aliases for {name} must be a list of labels.')
      kept = (name,) if self.replace_aliases else table[name].aliases
      table[name] = dataclasses.replace(
          table[name], aliases=tuple(dict.fromkeys((*kept, *labels))))
    return table


@dataclasses.dataclass(frozen=True)
class Night:
  """One assembled night.

  Attributes:
    record_id: e.g. 'mesa-sleep-0001'.
    cohort: cohort name.
    start_time: ISO 8601 start ('' if unknown).
    labels: int8 [num_epochs], 0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 unscored.
    signals: present signals only, float32 [num_epochs * samples_per_epoch],
      physical units resampled to the model's rate.
    native_rate_hz: per present signal.
    units: per present signal (EDF physical dimension).
  """

  record_id: str
  cohort: str
  start_time: str
  labels: np.ndarray
  signals: Mapping[str, np.ndarray]
  native_rate_hz: Mapping[str, float]
  units: Mapping[str, str]

  @property
  def num_epochs(self) -> int:
    return len(self.labels)


@dataclasses.dataclass(frozen=True)
class NightResult:
  """A night (None if skipped) and its skip-report entries."""

  night: Night | None
  entries: tuple[report_lib.SkipEntry, ...]


class _Skip(Exception):
  """Internal: the night is skipped (`stage`, `reason`, `path`)."""

  def __init__(self, path: str, stage: str, reason: str):
    super().__init__(reason)
    self.path, self.stage, self.reason = path, stage, reason


def _read_labels(files: NightFiles, recording: edf_lib.Recording
                 ) -> annotations.Hypnogram:
  """Reads the preferred annotation file (AnnotationError if malformed)."""
  if not files.annotations:
    raise _Skip(files.edf, 'annotation', 'no annotation file found')
  kind, rel = files.annotations[0]
  return read_annotation(kind, files.path(rel), recording)


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
  raise ValueError(f'Unknown annotation kind {kind!r}')


def _start_time(recording: edf_lib.Recording,
                hypnogram: annotations.Hypnogram) -> str:
  if recording.start is not None:
    return recording.start.isoformat()
  if hypnogram.start_time is not None:
    return hypnogram.start_time.isoformat()
  return ''


def _relative_error(error: errors.PsgError, files: NightFiles) -> str:
  """The error's file relative to the cohort folder (no local paths)."""
  try:
    return os.path.relpath(error.path, files.root)
  except ValueError:
    return error.path


def assemble_night(files: NightFiles, cohort: cohorts_lib.Cohort,
                   options: NightOptions) -> NightResult:
  """Reads, checks, resamples and aligns one night. Never raises PsgError."""
  report = report_lib.SkipReport()
  rid = files.record_id
  try:
    night = _assemble(files, cohort, options, report)
  except errors.PsgError as e:
    report.add(rid, _relative_error(e, files), e.stage, e.reason,
               report_lib.NIGHT_SKIPPED)
    night = None
  except _Skip as e:
    report.add(rid, e.path, e.stage, e.reason, report_lib.NIGHT_SKIPPED)
    night = None
  return NightResult(night, report.entries)


def _assemble(files: NightFiles, cohort: cohorts_lib.Cohort,
              options: NightOptions, report: report_lib.SkipReport) -> Night:
  rid = files.record_id
  wanted = [s for s in options.signals if s in cohort.signals]
  if not wanted:
    raise _Skip(files.edf, 'channel',
                f'{cohort.name} has none of the signals {list(options.signals)}')
  recording = edf_lib.read_recording(
      files.path(files.edf), wanted, table=options.table(cohort),
      allow_truncated=options.allow_truncated)
  for note in recording.notes:
    report.add(rid, files.edf, 'edf', note, NOTE)
  if recording.num_epochs < 1:
    raise _Skip(files.edf, 'edf',
                f'recording lasts {recording.duration_s:g} s, less than '
                f'one {channels_lib.EPOCH_SECONDS}-s epoch')
  hypnogram = _read_labels(files, recording)
  labels = hypnogram.labels
  ann_path = files.annotations[0][1]
  scored = np.flatnonzero(labels >= 0)
  if not scored.size:
    raise _Skip(ann_path, 'exclusion', 'no scored epoch')
  if options.exclude_sleep_wake_only and annotations.is_sleep_wake_only(labels):
    raise _Skip(ann_path, 'exclusion',
                'sleep/wake-only scoring (no N1, N3 or REM epoch)')
  if len(labels) != recording.num_epochs:
    longer = len(labels) > recording.num_epochs
    report.add(
        rid, ann_path, 'alignment',
        f'annotation {"longer" if longer else "shorter"} than signals: '
        f'{len(labels)} epochs scored, EDF has {recording.num_epochs}',
        LABELS_CROPPED if longer else LABELS_PADDED)
  num_epochs = min(recording.num_epochs, options.max_epochs)
  labels = annotations.align_labels(labels, num_epochs)
  if not (labels >= 0).any():
    raise _Skip(ann_path, 'exclusion',
                f'no scored epoch within the first {num_epochs} epochs')

  report.add_channel_problems(rid, dataclasses.replace(recording,
                                                       path=files.edf))
  if not recording.channels:
    reasons = '; '.join(f'{p.name}: {p.reason}' for p in recording.problems)
    raise _Skip(files.edf, 'channel', f'no usable signal ({reasons})')
  table = options.table(cohort)
  signals, rates, units = {}, {}, {}
  for name, channel in recording.channels.items():
    signals[name] = resample.resample_to_epochs(
        channel.data, channel.rate_hz, table[name].samples_per_epoch,
        max_epochs=num_epochs)
    rates[name] = channel.rate_hz
    units[name] = channel.unit
  return Night(rid, cohort.name, _start_time(recording, hypnogram), labels,
               signals, rates, units)


def to_example(night: Night, signal_names: Sequence[str]) -> dict:
  """The stored example of a night (numpy values, keys from `signals.feature_key`)."""
  signals, present, rates, units = {}, {}, {}, {}
  for name in signal_names:
    key = grid.feature_key(name)
    data = night.signals.get(name)
    present[key] = data is not None
    signals[key] = (np.zeros(0, np.float32) if data is None
                    else np.asarray(data, np.float32))
    rates[key] = np.float32(night.native_rate_hz.get(name, 0.0))
    units[key] = night.units.get(name, '')
  return {
      'record_id': night.record_id,
      'cohort': night.cohort,
      'start_time': night.start_time,
      'num_epochs': np.int32(night.num_epochs),
      'labels': np.asarray(night.labels, np.int8),
      'signals': signals,
      'present': present,
      'native_rate_hz': rates,
      'unit': units,
  }

