"""WFDB (PhysioNet) records through the `wfdb` package: headers, signals, annotations.

    header = read_header('slp04.hea')            # rate, length, start, signal names
    recording = read_recording('slp04.hea', ('ECG', 'THX'), table=...)  # edf.Recording
    notes = read_annotations('slp04.st')         # [WfdbAnnotation(sample, symbol, aux)]

Signals are read in physical units (any format `wfdb.rdrecord` reads: 16, 212,
and the MAT files `wfdb2mat` writes, declared as `<rec>.mat 16+24`). Errors of
the package (bad header, missing or short signal file, undecodable annotation
file) become `RecordingError` / `AnnotationError` naming the file.

Annotations are decoded by the package's byte reader (`proc_ann_bytes`), not by
`wfdb.rdann`: rdann drops every NOTE at sample 0 as if it were a file
definition, which would lose a stage note placed at the recording start.
Only the definition notes themselves ('## time resolution', the custom label
block) are dropped here.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import re
from typing import Mapping, Sequence

import numpy as np
import wfdb as wfdb_pkg
from wfdb.io import annotation as wfdb_annotation

from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import errors

_NOTE = 22  # WFDB NOTE annotation code ('"').
# Bytes per sample of the signal formats, for the file-size check.
_BYTES_PER_SAMPLE = {
    '8': 1,
    '16': 2,
    '24': 3,
    '32': 4,
    '61': 2,
    '80': 1,
    '160': 2,
    '212': 1.5,
    '310': 4 / 3,
    '311': 4 / 3
}


@dataclasses.dataclass(frozen=True)
class WfdbAnnotation:
  """One annotation: sample index, symbol and aux note."""

  sample: int
  symbol: str
  aux: str = ''


@dataclasses.dataclass(frozen=True)
class WfdbHeader:
  """The record of a WFDB `.hea` file.

  Attributes:
    record: record name.
    sampling_rate_hz: frame rate (`fs`).
    num_samples: samples per signal (None if the header omits it).
    start_time: clock time of sample 0, None if absent.
    start: date and time of sample 0 when both are given.
    signal_names: signal descriptions in file order.
  """

  record: str
  sampling_rate_hz: float
  num_samples: int | None
  start_time: datetime.time | None
  start: datetime.datetime | None = None
  signal_names: tuple[str, ...] = ()


_TIME = re.compile(r'(\d{1,2})[.:](\d{2})[.:](\d{2})(?:\.(\d+))?')


def parse_time_of_day(text: str) -> datetime.time | None:
  """Parses 'hh:mm:ss[.fff]' (or with dots, 'hh.mm.ss'); None if it is not a time."""
  match = _TIME.fullmatch(text.strip())
  if match is None:
    return None
  hours, minutes, seconds = (int(g) for g in match.groups()[:3])
  micro = int((match.group(4) or '0').ljust(6, '0')[:6])
  try:
    return datetime.time(hours, minutes, seconds, micro)
  except ValueError:
    return None


def _error(path: str, reason: str) -> errors.RecordingError:
  return errors.RecordingError(path, reason, stage='wfdb')


def _base(path: str | os.PathLike[str], extension: str) -> str:
  """Record path without `extension` (the name the wfdb package expects)."""
  path = os.fspath(path)
  return path[:-len(extension)] if path.endswith(extension) else path


def _rdheader(path: str) -> wfdb_pkg.Record:
  if not os.path.isfile(path):
    raise _error(path, 'header file not found')
  try:
    return wfdb_pkg.rdheader(_base(path, '.hea'))
  except Exception as e:  # The package raises assorted types on bad headers.
    raise _error(path, f'malformed WFDB header: {type(e).__name__}: {e}') from e


def read_header(path: str | os.PathLike[str]) -> WfdbHeader:
  """Reads a `.hea` file (RecordingError if missing or malformed)."""
  path = os.fspath(path)
  record = _rdheader(path)
  if not record.fs or record.fs <= 0:
    raise _error(path, f'sampling rate {record.fs} <= 0')
  start = None
  if record.base_time is not None and record.base_date is not None:
    start = datetime.datetime.combine(record.base_date, record.base_time)
  return WfdbHeader(record.record_name, float(record.fs), record.sig_len, record.base_time, start,
                    tuple(record.sig_name or ()))


def _check_sizes(path: str, record: wfdb_pkg.Record) -> list[str]:
  """Signal files exist and hold the header's length; notes for extra bytes."""
  notes, folder = [], os.path.dirname(path)
  per_file: dict[str, list[int]] = {}
  for i, name in enumerate(record.file_name):
    per_file.setdefault(name, []).append(i)
  for name, indices in per_file.items():
    file_path = os.path.join(folder, name)
    if not os.path.isfile(file_path):
      raise _error(file_path, f'signal file missing (named in {path})')
    fmt = record.fmt[indices[0]]
    if fmt not in _BYTES_PER_SAMPLE or record.sig_len is None:
      continue
    offset = (record.byte_offset or [0] * len(record.fmt))[indices[0]] or 0
    frame = sum((record.samps_per_frame or [1] * len(record.fmt))[i] for i in indices)
    expected = offset + math.ceil(record.sig_len * frame * _BYTES_PER_SAMPLE[fmt])
    actual = os.path.getsize(file_path)
    if actual < expected:
      held = int((actual - offset) / (frame * _BYTES_PER_SAMPLE[fmt]))
      raise _error(
          file_path, f'signal file holds {max(held, 0)} samples per signal, the header '
          f'{os.path.basename(path)} says {record.sig_len}')
    if actual > expected + 3:
      notes.append(f'{name}: {actual - expected} bytes beyond the header length ignored')
  return notes


def _read_signal(path: str, index: int, record: wfdb_pkg.Record) -> np.ndarray:
  try:
    read = wfdb_pkg.rdrecord(
        _base(path, '.hea'), channels=[index], physical=True, smooth_frames=False)
  except Exception as e:  # Short, corrupt or unsupported signal files.
    raise _error(path,
                 f'cannot read signal {record.sig_name[index]!r}: {type(e).__name__}: {e}') from e
  return np.asarray(read.e_p_signal[0], dtype=np.float64)


def _fill_invalid(data: np.ndarray) -> int:
  """Interpolates WFDB invalid samples (NaN in physical units) in place; returns how many."""
  bad = np.isnan(data)
  count = int(bad.sum())
  if count and count < data.size:
    good = np.flatnonzero(~bad)
    data[bad] = np.interp(np.flatnonzero(bad), good, data[good])
  return count


def _channel(path: str, name: str, index: int, record: wfdb_pkg.Record,
             notes: list[str]) -> edf_lib.Channel | edf_lib.ChannelProblem:
  label = record.sig_name[index]
  gain = (record.adc_gain or [1.0] * record.n_sig)[index]
  if not gain:
    return edf_lib.ChannelProblem(name, label, 'ADC gain is 0')
  data = _read_signal(path, index, record)
  reason = edf_lib.check_samples(data, 1.0 / abs(gain))
  if reason is not None:
    return edf_lib.ChannelProblem(name, label, reason)
  invalid = _fill_invalid(data)
  if invalid:
    notes.append(f'{name} ({label!r}): {invalid} invalid samples (WFDB gap value) '
                 'linearly interpolated')
  spf = (record.samps_per_frame or [1] * record.n_sig)[index]
  return edf_lib.Channel(
      data=data.astype(np.float32),
      rate_hz=float(record.fs) * spf,
      label=label,
      unit=(record.units or [''] * record.n_sig)[index],
      physical_range=(float(np.min(data)), float(np.max(data))))


def read_recording(path: str | os.PathLike[str],
                   names: Sequence[str] = channels_lib.SIGNAL_NAMES,
                   *,
                   table: Mapping[str, channels_lib.SignalSpec] | None = None) -> edf_lib.Recording:
  """Reads the wanted signals of a WFDB record (its `.hea` path) like `edf.read_recording`.

  Raises:
    RecordingError: missing or malformed header, missing signal file, or a
      signal file shorter than the header says.
  """
  path = os.fspath(path)
  table = channels_lib.signal_table() if table is None else table
  header = read_header(path)
  record = _rdheader(path)
  if not record.n_sig or not record.sig_len:
    raise _error(path, 'header declares no signals or no samples')
  notes = _check_sizes(path, record)
  labels = tuple(record.sig_name)
  channels = {}
  found, problems = edf_lib.match_channels(labels, names, table, noun='signal named')
  for name, index in found.items():
    result = _channel(path, name, index, record, notes)
    (problems.append(result)
     if isinstance(result, edf_lib.ChannelProblem) else channels.__setitem__(name, result))
  return edf_lib.Recording(
      path=path,
      start=header.start,
      duration_s=record.sig_len / record.fs,
      channels=channels,
      problems=tuple(problems),
      labels=labels,
      notes=tuple(notes))


def _definition_indices(sample: Sequence[int], code: Sequence[int],
                        aux: Sequence[str | None]) -> set[int]:
  """File-definition notes at sample 0: '## time resolution' and the label block."""
  out, in_block = set(), False
  for i, (s, c, a) in enumerate(zip(sample, code, aux)):
    if s != 0 or c != _NOTE:
      break
    text = (a or '').strip()
    if text == '## annotation type definitions':
      in_block = True
    if in_block or text.startswith('## time resolution'):
      out.add(i)
    if text == '## end':
      in_block = False
  return out


def read_annotations(path: str | os.PathLike[str]) -> list[WfdbAnnotation]:
  """Reads every annotation of a WFDB annotation file (e.g. `slp04.st`).

  Raises:
    AnnotationError: unreadable, odd-sized, truncated (no end-of-file word)
      or undecodable file.
  """
  path = os.fspath(path)
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except OSError as e:
    raise errors.AnnotationError(path, f'cannot read file: {e}') from e
  if len(raw) % 2:
    raise errors.AnnotationError(path, 'odd number of bytes: not a WFDB annotation '
                                 'file or truncated')
  if len(raw) < 2 or raw[-2:] != b'\0\0':
    raise errors.AnnotationError(path, 'no end-of-file marker: truncated')
  try:
    pairs = np.frombuffer(raw, dtype='<u1').reshape(-1, 2)
    sample, code, _, _, _, aux = wfdb_annotation.proc_ann_bytes(pairs, None)
  except Exception as e:  # The decoder raises assorted types on corrupt bytes.
    raise errors.AnnotationError(path,
                                 f'undecodable WFDB annotations: {type(e).__name__}: {e}') from e
  drop = _definition_indices(sample, code, aux)
  symbols = wfdb_annotation.ann_label_table.set_index('label_store')['symbol']
  out = []
  for i, (s, c, a) in enumerate(zip(sample, code, aux)):
    if i in drop or c == 0:  # Code 0 is not an annotation.
      continue
    out.append(WfdbAnnotation(int(s), str(symbols.get(int(c), str(c))), (a or '').rstrip('\x00')))
  return out
