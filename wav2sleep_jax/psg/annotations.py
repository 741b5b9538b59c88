"""Sleep-stage annotation parsers: one int8 label per 30-s epoch.

Labels (5 classes): 0 W, 1 N1, 2 N2, 3 N3 (R&K stages 3 and 4), 4 REM;
-1 (`UNSCORED`) for unscored, movement, gaps and epochs beyond the scoring.
Epoch 0 starts at the recording start. Every parser raises `AnnotationError`
naming the file and the problem for malformed input, so a build can skip the
night. Formats are those of the NSRR downloads (sleepdata.org): NSRR XML,
Profusion XML and the WSC text files.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import re
from typing import Iterable, Mapping
from xml.etree import ElementTree

import numpy as np

from wav2sleep_jax.core import stages as stages_lib
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import wfdb

UNSCORED = stages_lib.UNSCORED  # -1
_EPOCH = channels_lib.EPOCH_SECONDS
_SECONDS_PER_DAY = 24 * 3600
# Sanity bound on a night's length (48 h), against absurd Start/Duration values.
MAX_EPOCHS = 48 * 3600 // _EPOCH

# Numeric stage codes shared by NSRR XML concepts, Profusion XML and WSC .stg.
_NUMERIC_CODES: Mapping[int, int] = {
    0: 0,
    1: 1,
    2: 2,
    3: 3,
    4: 3,
    5: 4,
    6: UNSCORED,
    7: UNSCORED,
    9: UNSCORED
}
# WSC .allscore.txt 'STAGE - <x>' texts.
_ALLSCORE_STAGES: Mapping[str, int] = {
    'W': 0,
    'N1': 1,
    'N2': 2,
    'N3': 3,
    'N4': 3,
    'R': 4,
    'REM': 4,
    'NO STAGE': UNSCORED,
    'MVT': UNSCORED
}
# WFDB slpdb aux notes (first token), R&K.
_RK_STAGES: Mapping[str, int] = {
    'W': 0,
    '1': 1,
    '2': 2,
    '3': 3,
    '4': 3,
    'R': 4,
    'MT': UNSCORED,
    'M': UNSCORED
}


@dataclasses.dataclass(frozen=True)
class Hypnogram:
  """Stage labels of one night.

  Attributes:
    labels: int8 [num_epochs], values in {-1, 0, 1, 2, 3, 4}.
    start_time: clock time of epoch 0 when the file records it.
    notes: remarks on how the scoring was aligned (report entries of the night).
  """

  labels: np.ndarray
  start_time: datetime.time | None = None
  notes: tuple[str, ...] = ()


def align_labels(labels: np.ndarray, n_epochs: int) -> np.ndarray:
  """Crops labels to `n_epochs` or pads the end with -1 (int8)."""
  if n_epochs < 0:
    raise ValueError(f'n_epochs must be >= 0, got {n_epochs}.')
  out = np.full(n_epochs, UNSCORED, dtype=np.int8)
  n = min(n_epochs, len(labels))
  out[:n] = np.asarray(labels[:n], dtype=np.int8)
  return out


def is_sleep_wake_only(labels: np.ndarray) -> bool:
  """True if no epoch is N1, N3 or REM (night scored only as sleep/wake)."""
  return not np.isin(np.asarray(labels), (1, 3, 4)).any()


def _new_labels(n_epochs: int, path: str) -> np.ndarray:
  """All-unscored int8 labels; AnnotationError beyond `MAX_EPOCHS`."""
  if n_epochs > MAX_EPOCHS:
    raise errors.AnnotationError(path,
                                 f'scoring spans {n_epochs} epochs, more than {MAX_EPOCHS} (48 h)')
  return np.full(n_epochs, UNSCORED, dtype=np.int8)


def _epoch_index(seconds: float, what: str, path: str) -> int:
  """`seconds` / 30 as an int; AnnotationError if off the 30-s grid."""
  epochs = seconds / _EPOCH
  if not math.isfinite(epochs) or abs(epochs - round(epochs)) > 1e-6:
    raise errors.AnnotationError(path, f'{what} {seconds:g} s is not a multiple of {_EPOCH} s')
  return round(epochs)


def _parse_xml(path: str) -> ElementTree.Element:
  try:
    return ElementTree.parse(path).getroot()
  except ElementTree.ParseError as e:
    raise errors.AnnotationError(path, f'malformed XML: {e}') from e
  except OSError as e:
    raise errors.AnnotationError(path, f'cannot read file: {e}') from e


def _check_epoch_length(root: ElementTree.Element, path: str) -> None:
  text = root.findtext('EpochLength')
  if text is None:
    return
  try:
    length = float(text)
  except ValueError:
    raise errors.AnnotationError(path, f'EpochLength {text!r} is not a number') from None
  if length != _EPOCH:
    raise errors.AnnotationError(
        path, f'EpochLength is {text.strip()} s; only {_EPOCH}-s epochs are supported')


def _parse_clock_time(text: str) -> datetime.time | None:
  """Parses the time of 'hh.mm.ss', 'hh:mm:ss[.fff]' or 'dd.mm.yy hh.mm.ss'."""
  tokens = text.split()
  if not tokens:
    return None
  return wfdb.parse_time_of_day(tokens[-1])


def _nsrr_stage(concept: str, path: str) -> int:
  """Maps an NSRR stage concept such as 'Stage 2 sleep|2' to a label."""
  _, _, code = concept.rpartition('|')
  if code.strip().isdecimal() and int(code) in _NUMERIC_CODES:
    return _NUMERIC_CODES[int(code)]
  raise errors.AnnotationError(path, f'unknown sleep stage concept {concept!r}')


def _float_field(event: ElementTree.Element, tag: str, path: str) -> float:
  text = event.findtext(tag)
  try:
    return float(text)
  except (TypeError, ValueError):
    raise errors.AnnotationError(
        path, f'stage event has missing or non-numeric <{tag}>: {text!r}') from None


def runs_to_labels(runs: Iterable[tuple[int, int, int]], path: str) -> np.ndarray:
  """Expands (first epoch, num epochs, label) runs; conflicting overlaps fail."""
  runs = sorted(runs)
  if not runs:
    raise errors.AnnotationError(path, 'no sleep stage events')
  n_epochs = max(start + length for start, length, _ in runs)
  labels = _new_labels(n_epochs, path)
  scored = np.zeros(n_epochs, dtype=bool)
  for start, length, label in runs:
    span = slice(start, start + length)
    if (scored[span] & (labels[span] != label)).any():
      raise errors.AnnotationError(path, f'overlapping stage events disagree at {start * _EPOCH} s')
    labels[span] = label
    scored[span] = True
  return labels


def read_nsrr_xml(path: str | os.PathLike[str]) -> Hypnogram:
  """Reads stages from an NSRR XML (`*-nsrr.xml`).

  Stage events (EventType 'Stages|Stages') may be unsorted and interleaved with
  other events; each run (Start, Duration in s, multiples of 30) is expanded
  into epochs. Gaps and epochs after the last stage are -1. The start time
  comes from the 'Recording Start Time' event's ClockTime, if present.

  Raises:
    AnnotationError: malformed XML, no stage events, unknown stage concept,
      Start/Duration not on the 30-s grid, or conflicting overlapping stages.
  """
  path = os.fspath(path)
  events = _xml_element(path, 'ScoredEvents')
  start_time = None
  runs = []
  for event in events.iter('ScoredEvent'):
    concept = (event.findtext('EventConcept') or '').strip()
    event_type = (event.findtext('EventType') or '').strip()
    if concept.casefold() == 'recording start time':
      start_time = _parse_clock_time(event.findtext('ClockTime') or '')
      continue
    if not event_type.casefold().startswith('stages'):
      continue
    label = _nsrr_stage(concept, path)
    start = _epoch_index(_float_field(event, 'Start', path), 'stage Start', path)
    length = _epoch_index(_float_field(event, 'Duration', path), 'stage Duration', path)
    if start < 0 or length <= 0:
      raise errors.AnnotationError(
          path, f'stage event with Start {start * _EPOCH} s, '
          f'Duration {length * _EPOCH} s')
    runs.append((start, length, label))
  return Hypnogram(runs_to_labels(runs, path), start_time)


def _xml_element(path: str, query: str) -> ElementTree.Element:
  """The element `query` of a scoring XML whose epoch length is 30 s (AnnotationError if absent)."""
  root = _parse_xml(path)
  _check_epoch_length(root, path)
  element = root.find(query)
  if element is None:
    raise errors.AnnotationError(path, f'no <{query.split("/")[-1]}> element')
  return element


def _numeric_stage(text: str, where: str, path: str) -> int:
  try:
    code = int(text.strip())
  except ValueError:
    raise errors.AnnotationError(path, f'{where}: stage {text!r} is not an integer') from None
  if code not in _NUMERIC_CODES:
    raise errors.AnnotationError(path, f'{where}: unknown stage code {code}')
  return _NUMERIC_CODES[code]


def read_profusion_xml(path: str | os.PathLike[str]) -> Hypnogram:
  """Reads stages from a Compumedics Profusion XML (one <SleepStage> per epoch).

  Codes: 0 W, 1 N1, 2 N2, 3 and 4 N3, 5 REM, 6/7/9 -> -1.

  Raises:
    AnnotationError: malformed XML, no <SleepStages>, or an unknown code.
  """
  path = os.fspath(path)
  stages = _xml_element(path, './/SleepStages')
  labels = [
      _numeric_stage(s.text or '', f'epoch {i}', path)
      for i, s in enumerate(stages.iter('SleepStage'))
  ]
  if not labels:
    raise errors.AnnotationError(path, '<SleepStages> is empty')
  return Hypnogram(np.asarray(labels, dtype=np.int8))


def _read_lines(path: str) -> list[str]:
  try:
    with open(path, encoding='latin-1') as f:
      return f.read().splitlines()
  except OSError as e:
    raise errors.AnnotationError(path, f'cannot read file: {e}') from e


_CLOCK = re.compile(r'(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?(?:\s*([AaPp][Mm])\b)?')


def _clock_seconds(text: str, prefix: bool = False) -> float | None:
  """Seconds after midnight of 'HH:MM:SS[.fff][ AM|PM]', or None.

  With `prefix`, the time may be followed by other text ('22:14:53 1').
  """
  match = (_CLOCK.match if prefix else _CLOCK.fullmatch)(text.strip())
  if match is None:
    return None
  hours, minutes, seconds = (int(match.group(i)) for i in (1, 2, 3))
  if match.group(5):
    hours = hours % 12 + (12 if match.group(5).upper() == 'PM' else 0)
  if hours > 23 or minutes > 59 or seconds > 60:
    return None
  return hours * 3600 + minutes * 60 + seconds + float(match.group(4) or 0)


def _seconds_to_time(seconds: float) -> datetime.time:
  seconds %= _SECONDS_PER_DAY
  whole = int(seconds)
  micro = int(round((seconds - whole) * 1e6))
  if micro == 1_000_000:
    whole, micro = whole + 1, 0
  return datetime.time(whole // 3600 % 24, whole // 60 % 60, whole % 60, micro)


def read_wsc_log_start(path: str | os.PathLike[str],
                       edf_start: datetime.time | None = None) -> datetime.time:
  """Recording start from a WSC `.log.txt` ('<time> <epoch>\\tRecording Started').

  Real logs write `HH:MM:SS <epoch><TAB>text` (epoch 0 before the recording
  starts); `HH:MM:SS[.fff][ AM|PM]<TAB>text` without the epoch is accepted too.

  Args:
    path: the log file.
    edf_start: the EDF's start time. Logs of restarted recordings hold several
      starts; with `edf_start` the one equal to it (to the second) is returned.

  Raises:
    AnnotationError: no start line, a malformed time, no start matching
      `edf_start`, or several different starts and no `edf_start`.
  """
  path = os.fspath(path)
  starts = []
  for number, line in enumerate(_read_lines(path), 1):
    fields = line.split('\t')
    if len(fields) < 2 or fields[1].strip().casefold() != 'recording started':
      continue
    seconds = _clock_seconds(fields[0], prefix=True)
    if seconds is None:
      raise errors.AnnotationError(path, f'line {number}: cannot parse time {fields[0]!r}')
    starts.append(_seconds_to_time(seconds))
  if not starts:
    raise errors.AnnotationError(path, "no 'Recording Started' line")
  if edf_start is not None:
    wanted = edf_start.replace(microsecond=0)
    for start in starts:
      if start.replace(microsecond=0) == wanted:
        return start
    raise errors.AnnotationError(
        path, f'no Recording Started at the EDF start {edf_start}; '
        f'log has {[str(s) for s in starts]}')
  if len(set(starts)) > 1:
    raise errors.AnnotationError(
        path, f'{len(starts)} different Recording Started times '
        f'{[str(s) for s in starts]}; pass edf_start to choose')
  return starts[0]


def _sibling(path: str, suffix: str, new_suffix: str) -> str:
  return path[:-len(suffix)] + new_suffix if path.endswith(suffix) else ''


def read_wsc_stg(path: str | os.PathLike[str],
                 log_path: str | os.PathLike[str] | None = None,
                 edf_start: datetime.time | None = None) -> Hypnogram:
  """Reads stages from a WSC `.stg.txt` (tab-separated Epoch, User-Defined Stage).

  Epochs are numbered from 1 (epoch 1 starts at the recording start). The
  header line is optional; extra columns are ignored; missing epochs are -1.

  Args:
    path: the `.stg.txt` file.
    log_path: `.log.txt` with the start time; by default the sibling
      `<id>.log.txt` if it exists (start_time None otherwise).
    edf_start: passed to `read_wsc_log_start`.

  Raises:
    AnnotationError: malformed lines, unknown codes, epoch numbers < 1 or
      repeated, or an empty file.
  """
  path = os.fspath(path)
  entries: dict[int, int] = {}
  for number, line in enumerate(_read_lines(path), 1):
    fields = [f.strip() for f in (line.split('\t') if '\t' in line else line.split())]
    if not any(fields):
      continue
    if number == 1 and not fields[0].lstrip('-').isdigit():
      continue  # Header line.
    if len(fields) < 2 or not fields[0].lstrip('-').isdigit():
      raise errors.AnnotationError(path, f'line {number}: malformed {line!r}')
    epoch = int(fields[0])
    if epoch < 1:
      raise errors.AnnotationError(path, f'line {number}: epoch {epoch} < 1')
    if epoch in entries:
      raise errors.AnnotationError(path, f'line {number}: epoch {epoch} repeated')
    entries[epoch] = _numeric_stage(fields[1], f'line {number}', path)
  if not entries:
    raise errors.AnnotationError(path, 'no stage lines')
  labels = _new_labels(max(entries), path)
  labels[np.asarray(list(entries)) - 1] = list(entries.values())
  if log_path is None:
    sibling = _sibling(path, '.stg.txt', '.log.txt')
    log_path = sibling if sibling and os.path.exists(sibling) else None
  start = None if log_path is None else read_wsc_log_start(log_path, edf_start)
  return Hypnogram(labels, start)


def _allscore_events(path: str) -> list[tuple[float, str]]:
  """(clock seconds, text) per non-empty line of an allscore file."""
  events = []
  for number, line in enumerate(_read_lines(path), 1):
    if not line.strip():
      continue
    clock, sep, text = line.partition('\t')
    seconds = _clock_seconds(clock)
    if not sep or seconds is None:
      raise errors.AnnotationError(
          path, f'line {number}: expected "HH:MM:SS.fff<TAB>text", got {line!r}')
    events.append((seconds, text.strip()))
  return events


def read_wsc_allscore(path: str | os.PathLike[str], n_epochs: int | None = None) -> Hypnogram:
  """Reads stages from a WSC `.allscore.txt` (stage changes only).

  Lines before 'START RECORDING' are ignored; clock times after it are made
  monotonic across midnight (a jump back by more than 12 h is a new day). A
  change applies from the epoch boundary nearest to it, and each stage holds
  until the next change (forward fill).

  Args:
    path: the `.allscore.txt` file.
    n_epochs: length of the night (from the EDF). By default, the epoch of
      the last line of the file (at least one epoch after the last change).

  Returns:
    Labels; `start_time` is the START RECORDING clock time.

  Raises:
    AnnotationError: POWER FAILURE RECOVERY anywhere, START RECORDING missing
      or repeated, malformed lines, unknown stages, or no stage changes.
  """
  path = os.fspath(path)
  events = _allscore_events(path)
  if any('POWER FAILURE RECOVERY' in text.upper() for _, text in events):
    raise errors.AnnotationError(path, 'POWER FAILURE RECOVERY: night dropped')
  starts = [i for i, (_, text) in enumerate(events) if text.upper() == 'START RECORDING']
  if len(starts) != 1:
    raise errors.AnnotationError(
        path,
        'START RECORDING missing' if not starts else f'START RECORDING appears {len(starts)} times')
  start_clock = events[starts[0]][0]
  changes = []  # (epoch, label) in file order.
  day, previous, last_elapsed = 0, start_clock, 0.0
  for clock, text in events[starts[0]:]:
    if clock + day * _SECONDS_PER_DAY < previous - _SECONDS_PER_DAY / 2:
      day += 1
    absolute = clock + day * _SECONDS_PER_DAY
    previous = absolute
    elapsed = max(0.0, absolute - start_clock)
    last_elapsed = max(last_elapsed, elapsed)
    name, sep, stage = text.partition('-')
    if not sep or name.strip().upper() != 'STAGE':
      continue
    stage = stage.strip().upper()
    if stage not in _ALLSCORE_STAGES:
      raise errors.AnnotationError(path, f'unknown stage {text!r}')
    changes.append((round(elapsed / _EPOCH), _ALLSCORE_STAGES[stage]))
  if not changes:
    raise errors.AnnotationError(path, 'no STAGE lines after START RECORDING')
  if n_epochs is None:
    n_epochs = max(max(e for e, _ in changes) + 1, int(math.floor(last_elapsed / _EPOCH)))
  labels = _new_labels(n_epochs, path)
  for epoch, label in sorted(changes, key=lambda c: c[0]):  # Stable sort.
    labels[epoch:] = label
  return Hypnogram(labels, _seconds_to_time(start_clock))


def read_wfdb_stages(path: str | os.PathLike[str],
                     sampling_rate_hz: float | None = None) -> Hypnogram:
  """Reads R&K stages from a WFDB annotation file (PhysioNet slpdb `.st`).

  The stage is the first token of each annotation's aux note: W, 1, 2, 3, 4,
  R; MT/M (movement) -> -1. Annotations without aux text are ignored. An
  annotation at sample s belongs to epoch round(s / (30 * rate)).

  Args:
    path: the annotation file.
    sampling_rate_hz: record sampling rate; by default read from the sibling
      `<record>.hea`, which also gives `start_time`.

  Raises:
    AnnotationError: undecodable file, missing header, unknown stage token,
      two stages in one epoch, or no stage annotations.
  """
  path = os.fspath(path)
  start_time = None
  if sampling_rate_hz is None:
    header_path = os.path.splitext(path)[0] + '.hea'
    if not os.path.exists(header_path):
      raise errors.AnnotationError(
          path, f'no header {header_path} to read the sampling rate from; '
          'pass sampling_rate_hz')
    header = wfdb_header(header_path)
    sampling_rate_hz, start_time = header.sampling_rate_hz, header.start_time
  epoch_samples = _EPOCH * sampling_rate_hz
  stages: dict[int, int] = {}
  for ann in wfdb.read_annotations(path):
    if not ann.aux.strip():
      continue
    token = ann.aux.split()[0]
    if token not in _RK_STAGES:
      raise errors.AnnotationError(path, f'unknown stage {token!r} at sample {ann.sample}')
    epoch = round(ann.sample / epoch_samples)
    if epoch in stages:
      raise errors.AnnotationError(path,
                                   f'two stage annotations in epoch {epoch} (sample {ann.sample})')
    stages[epoch] = _RK_STAGES[token]
  if not stages:
    raise errors.AnnotationError(path, 'no stage annotations')
  labels = _new_labels(max(stages) + 1, path)
  labels[list(stages)] = list(stages.values())
  return Hypnogram(labels, start_time)


def wfdb_header(path: str) -> wfdb.WfdbHeader:
  """A record header read for its annotations (AnnotationError if unusable)."""
  try:
    return wfdb.read_header(path)
  except errors.RecordingError as e:
    raise errors.AnnotationError(e.path, e.reason) from e
