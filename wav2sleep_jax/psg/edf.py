"""Reads the wanted channels of an EDF at their native sampling rates.

`edfio` reads each signal at its own rate (no implicit resampling, unlike
`mne.io.read_raw_edf`). This module adds what a dataset build needs on top:

* channel lookup by canonical name and ordered aliases (`find_channel`);
* typed errors for unreadable files (`RecordingError`: corrupt header, empty
  or truncated data section), checked from the raw header before edfio, which
  would otherwise only warn and read misaligned or shortened data: the file
  size must be header + declared records x record size (a truncated file,
  when allowed, may only lack whole trailing records), the record duration
  must be > 0 and every signal must have samples in a record;
* per-channel defects that make a channel absent rather than failing the night:
  missing label, physical max of 0 or physical min == max (a CHAT defect that
  edfio turns into a wrongly scaled or uncalibrated signal), a physical range
  or samples beyond float32, flat line and all-NaN data. Each absent channel
  gets a `ChannelProblem` with the reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import warnings
from typing import Mapping, Sequence

import edfio
import numpy as np

from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import errors

# A channel is flat if its std is below this fraction of one quantisation step.
FLAT_STD_FRACTION_OF_LSB = 0.01
# Fallback flat tolerance relative to the signal's magnitude (no LSB known).
FLAT_STD_RELATIVE = 1e-6
# Longest plausible recording: a longer header duration is corrupt.
MAX_DURATION_S = 7 * 24 * 3600.0
# Samples are stored as float32: larger magnitudes would become inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)

_FIXED_HEADER_BYTES = 256
_SIGNAL_HEADER_BYTES = 256
_EDF_SAMPLE_BYTES = 2


@dataclasses.dataclass(frozen=True)
class Channel:
  """One channel at its native rate.

  Attributes:
    data: float32 [num_samples], physical units.
    rate_hz: native sampling rate.
    label: EDF label it was read from.
    unit: physical dimension from the header ('uV', 'mV', '' ...).
    physical_range: (physical min, physical max) from the header.
  """

  data: np.ndarray
  rate_hz: float
  label: str
  unit: str
  physical_range: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class ChannelProblem:
  """Why a wanted channel is absent from a `Recording`.

  Attributes:
    name: canonical signal name ('ECG', ...).
    label: the EDF label that was found, or None if no alias matched.
    reason: human-readable reason.
  """

  name: str
  label: str | None
  reason: str


@dataclasses.dataclass(frozen=True)
class SignalHeader:
  """Header fields of one EDF signal (annotation signals excluded)."""

  label: str
  rate_hz: float
  unit: str
  physical_range: tuple[float, float] | None  # None if unreadable.
  digital_range: tuple[int, int] | None  # None if unreadable.


@dataclasses.dataclass(frozen=True)
class EdfHeader:
  """Recording-level header fields.

  Attributes:
    path: the file.
    start: recording start (None if the date/time fields are unusable).
    duration_s: num_records * record_duration_s (records actually present).
    num_records: data records present in the file.
    record_duration_s: duration of one data record.
    signals: ordinary signals in file order.
  """

  path: str
  start: datetime.datetime | None
  duration_s: float
  num_records: int
  record_duration_s: float
  signals: tuple[SignalHeader, ...]

  @property
  def labels(self) -> tuple[str, ...]:
    return tuple(s.label for s in self.signals)


@dataclasses.dataclass(frozen=True)
class Recording:
  """The wanted channels of one EDF.

  Attributes:
    path: the file.
    start: recording start (None if unknown).
    duration_s: recording duration.
    channels: canonical name -> channel, only for usable channels.
    problems: one entry per wanted channel that is absent, with the reason.
    labels: every ordinary signal label in the file (for diagnostics).
    notes: recording-level remarks that did not prevent reading (truncation
      by whole records when allowed).
  """

  path: str
  start: datetime.datetime | None
  duration_s: float
  channels: dict[str, Channel]
  problems: tuple[ChannelProblem, ...]
  labels: tuple[str, ...]
  notes: tuple[str, ...] = ()

  @property
  def num_epochs(self) -> int:
    """Complete 30-s epochs in the recording."""
    return int(math.floor(self.duration_s / channels_lib.EPOCH_SECONDS + 1e-9))


def find_channel(labels: Sequence[str], aliases: Sequence[str]) -> int | None:
  """Index of the first label matching one of `aliases`, or None.

  Aliases are tried in order with exact (case-sensitive) matching; only if
  none matches are they tried again case-insensitively. Labels are compared
  without surrounding whitespace. With repeated labels the first one wins.
  """
  stripped = [label.strip() for label in labels]
  for normalise in (lambda s: s, str.casefold):
    keys = [normalise(label) for label in stripped]
    for alias in aliases:
      target = normalise(alias.strip())
      if target in keys:
        return keys.index(target)
  return None


def match_channels(labels: Sequence[str],
                   names: Sequence[str],
                   table: Mapping[str, channels_lib.SignalSpec],
                   noun: str = 'channel labelled') -> tuple[dict[str, int], list[ChannelProblem]]:
  """({signal: label index}, problems for signals found under no label).

  Each signal takes the first free label matching its aliases (`find_channel`),
  so two signals never share one channel.
  """
  found: dict[str, int] = {}
  problems: list[ChannelProblem] = []
  for name in names:
    taken = set(found.values())
    free = [label if i not in taken else '\0' for i, label in enumerate(labels)]
    index = find_channel(free, table[name].aliases)
    if index is None:
      problems.append(ChannelProblem(name, None, f'no {noun} any of {list(table[name].aliases)}'))
    else:
      found[name] = index
  return found, problems


BROKEN_UNIT = 'BROKEN'


def match_reference_channels(labels: Sequence[str], units: Sequence[str],
                             names: Sequence[str]) -> tuple[dict[str, int], list[ChannelProblem]]:
  """The reference's channel lookup ('reference' preprocessing): {signal: label index}.

  Each signal takes the first of its name and `channels.REFERENCE_ALIASES` that is a
  label exactly (case-sensitive, trailing blanks ignored) whose unit is not BROKEN;
  of repeated labels the last one counts. Signals may share a channel.
  """
  index = {label.rstrip(): i for i, label in enumerate(labels)}  # Last wins.
  found: dict[str, int] = {}
  problems: list[ChannelProblem] = []
  for name in names:
    candidates = tuple(dict.fromkeys((name, *channels_lib.REFERENCE_ALIASES[name])))
    usable = [
        c for c in candidates if c in index and units[index[c]].strip().upper() != BROKEN_UNIT
    ]
    if usable:
      found[name] = index[usable[0]]
    else:
      broken = [c for c in candidates if c in index]
      why = f' (unit {BROKEN_UNIT})' if broken else ''
      problems.append(
          ChannelProblem(name, broken[0] if broken else None,
                         f'no channel labelled exactly any of {list(candidates)}{why}'))
  return found, problems


def check_ranges(
    physical_range: tuple[float, float] | None,
    digital_range: tuple[int, int] | None,
) -> str | None:
  """Returns why a channel's header ranges make it unusable, or None."""
  if physical_range is None:
    return 'unreadable physical min/max'
  if digital_range is None:
    return 'unreadable digital min/max'
  pmin, pmax = physical_range
  if max(abs(pmin), abs(pmax)) > FLOAT32_MAX:
    return (f'physical range [{pmin:g}, {pmax:g}] overflows float32 '
            f'(max {FLOAT32_MAX:.3g})')
  if pmax == 0:
    return f'physical max is 0 (physical range [{pmin:g}, {pmax:g}])'
  if pmin == pmax:
    return f'physical min equals physical max ({pmin:g})'
  if digital_range[0] == digital_range[1]:
    return f'digital min equals digital max ({digital_range[0]})'
  return None


def check_samples(data: np.ndarray, lsb: float | None = None) -> str | None:
  """Returns why a channel's samples make it unusable, or None.

  Args:
    data: samples in physical units.
    lsb: physical size of one quantisation step; a channel whose std is below
      `FLAT_STD_FRACTION_OF_LSB` steps is flat. Without it the tolerance is
      `FLAT_STD_RELATIVE` times the largest magnitude (at least 1).
  """
  if data.size == 0:
    return 'no samples'
  finite = data[np.isfinite(data)]
  if finite.size == 0:
    return 'all samples are NaN/inf'
  overflow = int(np.count_nonzero(np.abs(finite) > FLOAT32_MAX))
  if overflow:
    return (f'{overflow} samples overflow float32 (max |x| '
            f'{float(np.max(np.abs(finite))):.3g} > {FLOAT32_MAX:.3g})')
  std = float(np.std(finite, dtype=np.float64))
  if lsb is not None:
    tolerance = FLAT_STD_FRACTION_OF_LSB * lsb
  else:
    tolerance = FLAT_STD_RELATIVE * max(1.0, float(np.max(np.abs(finite))))
  if std <= tolerance:
    return f'flat line (std {std:.3g})'
  return None


def _lsb(physical_range: tuple[float, float], digital_range: tuple[int, int]) -> float:
  """Physical size of one digital step."""
  return abs(physical_range[1] - physical_range[0]) / abs(digital_range[1] - digital_range[0])


def _raw_int(field: bytes, name: str, path: str) -> int:
  """Parses an integer header field or raises RecordingError."""
  try:
    return int(field.decode('ascii').strip())
  except (UnicodeDecodeError, ValueError):
    raise errors.RecordingError(
        path, f'corrupt EDF header: {name} field {field!r} is not an integer') from None


@dataclasses.dataclass(frozen=True)
class _Layout:
  """Sizes from the raw header and the file."""

  file_bytes: int
  header_bytes: int
  record_bytes: int
  declared_records: int  # -1 means unknown (allowed by the EDF spec).
  record_duration_s: float

  @property
  def present_records(self) -> int:
    return (self.file_bytes - self.header_bytes) // self.record_bytes

  @property
  def tail_bytes(self) -> int:
    """Bytes after the last whole data record."""
    return (self.file_bytes - self.header_bytes) % self.record_bytes


def _raw_float(field: bytes, name: str, path: str) -> float:
  """Parses a finite numeric header field or raises RecordingError."""
  try:
    value = float(field.decode('ascii').strip())
  except (UnicodeDecodeError, ValueError):
    value = math.nan
  if not math.isfinite(value):
    raise errors.RecordingError(path, f'corrupt EDF header: {name} field {field!r} is not a number')
  return value


def _read_raw_header(path: str) -> tuple[bytes, bytes, int]:
  """(fixed header, signal headers, file size); RecordingError if unreadable."""
  try:
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
      fixed = f.read(_FIXED_HEADER_BYTES)
      if len(fixed) < _FIXED_HEADER_BYTES:
        raise errors.RecordingError(path,
                                    f'not an EDF: {size} bytes, shorter than the 256-byte header')
      if fixed[:8].strip() != b'0':
        raise errors.RecordingError(path,
                                    f'not an EDF: version field is {fixed[:8]!r}, expected b"0"')
      num_signals = _raw_int(fixed[252:256], 'number of signals', path)
      header_bytes = _raw_int(fixed[184:192], 'header size', path)
      if num_signals <= 0 or header_bytes != _FIXED_HEADER_BYTES * (1 + num_signals):
        raise errors.RecordingError(
            path, f'corrupt EDF header: {num_signals} signals but header size '
            f'{header_bytes} bytes')
      signal_headers = f.read(_SIGNAL_HEADER_BYTES * num_signals)
  except OSError as e:
    raise errors.RecordingError(path, f'cannot read file: {e}') from e
  if len(signal_headers) < _SIGNAL_HEADER_BYTES * num_signals:
    raise errors.RecordingError(path,
                                f'truncated EDF header: {size} bytes, header needs {header_bytes}')
  return fixed, signal_headers, size


def _check_layout(path: str) -> _Layout:
  """Validates the raw header fields that fix the data layout.

  Raises:
    RecordingError: unreadable, not an EDF, header truncated or inconsistent
      (record count, record duration, samples per record), or no data.
  """
  fixed, signal_headers, size = _read_raw_header(path)
  num_signals = len(signal_headers) // _SIGNAL_HEADER_BYTES
  declared = _raw_int(fixed[236:244], 'number of data records', path)
  if declared == 0 or declared < -1:
    raise errors.RecordingError(path, f'corrupt EDF header: {declared} data records declared')
  duration = _raw_float(fixed[244:252], 'data record duration', path)
  if duration <= 0:
    raise errors.RecordingError(
        path, f'corrupt EDF header: data record duration is {duration:g} s '
        '(must be > 0)')
  offset = 216 * num_signals  # Start of the samples-per-record fields.
  samples_per_record = [
      _raw_int(signal_headers[offset + 8 * i:offset + 8 * (i + 1)], 'samples per data record', path)
      for i in range(num_signals)
  ]
  bad = [(i, n) for i, n in enumerate(samples_per_record) if n <= 0]
  if bad:
    raise errors.RecordingError(
        path, f'corrupt EDF header: signal {bad[0][0]} has {bad[0][1]} samples '
        'per data record')
  layout = _Layout(size, _FIXED_HEADER_BYTES * (1 + num_signals),
                   _EDF_SAMPLE_BYTES * sum(samples_per_record), declared, duration)
  if layout.present_records == 0:
    raise errors.RecordingError(
        path, f'no data records (file has {size} bytes, header '
        f'{layout.header_bytes}, one record {layout.record_bytes})')
  hours = max(declared, layout.present_records) * duration / 3600
  if hours > MAX_DURATION_S / 3600:
    raise errors.RecordingError(
        path, f'corrupt EDF header: data records of {duration:g} s make the '
        f'recording {hours:.3g} h long (more than {MAX_DURATION_S / 3600:g} h)')
  return layout


def _size_mismatch(layout: _Layout) -> tuple[str, bool] | None:
  """(reason, whole records missing at the end) if the file size is off.

  The size must be header + records x record size; a file that is short by
  whole trailing records is a truncated (but aligned) file.
  """
  data_bytes = layout.file_bytes - layout.header_bytes
  if layout.declared_records < 0:
    if not layout.tail_bytes:
      return None
    return (f'corrupt or truncated EDF: last data record incomplete ({data_bytes} '
            f'data bytes are not a whole number of {layout.record_bytes}-byte '
            'records; header and data do not match)', False)
  expected = layout.header_bytes + layout.declared_records * layout.record_bytes
  if layout.file_bytes == expected:
    return None
  sizes = (f'file has {layout.file_bytes} bytes, header says {layout.header_bytes} + '
           f'{layout.declared_records} records x {layout.record_bytes} bytes = '
           f'{expected}')
  if layout.file_bytes > expected:
    return (f'corrupt EDF: {sizes} (header does not match the data)', False)
  if layout.tail_bytes:
    return (f'truncated EDF or header mismatch: {sizes}; the data is not a '
            f'whole number of records', False)
  return (f'truncated EDF: header declares {layout.declared_records} data '
          f'records, file holds {layout.present_records}', True)


def _start_datetime(edf: edfio.Edf) -> datetime.datetime | None:
  """Recording start, or None if the header's date/time fields are unusable."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # e.g. EDF+ and legacy dates differ.
      return edf.startdatetime
  except (ValueError, IndexError):  # Anonymised or malformed date fields.
    return None


def _signal_header(signal: edfio.EdfSignal) -> SignalHeader:
  """Header fields of one signal; unreadable ranges become None."""
  try:
    physical_range = (signal.physical_min, signal.physical_max)
  except ValueError:  # Non-numeric or infinite field.
    physical_range = None
  try:
    digital_range = (signal.digital_min, signal.digital_max)
  except ValueError:
    digital_range = None
  return SignalHeader(
      label=signal.label,
      rate_hz=float(signal.sampling_frequency),
      unit=signal.physical_dimension,
      physical_range=physical_range,
      digital_range=digital_range,
  )


def _open(path: str, allow_truncated: bool) -> tuple[edfio.Edf, _Layout, list[str]]:
  """Checks the layout and size, then opens the EDF with edfio (lazy data)."""
  layout = _check_layout(path)
  notes = []
  mismatch = _size_mismatch(layout)
  if mismatch is not None:
    reason, whole_records_missing = mismatch
    if not (allow_truncated and whole_records_missing):
      raise errors.RecordingError(path, reason)
    notes.append(reason + ' (complete records kept)')
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # Truncation is handled above.
      edf = edfio.read_edf(path)
      discontinuous = (edf.reserved.startswith('EDF+D') and not edf.is_continuous)
  except Exception as e:  # edfio raises assorted types on corrupt headers.
    raise errors.RecordingError(path, f'corrupt EDF header: {type(e).__name__}: {e}') from e
  if discontinuous:
    raise errors.RecordingError(path, 'EDF+D with gaps between data records is not supported')
  return edf, layout, notes


def _signals_and_labels(path: str, edf: edfio.Edf) -> tuple[list[edfio.EdfSignal], tuple[str, ...]]:
  """Ordinary signals and their labels (RecordingError if undecodable)."""
  try:
    edf_signals = list(edf.signals)
    return edf_signals, tuple(s.label for s in edf_signals)
  except ValueError as e:  # Includes UnicodeDecodeError of a label.
    raise errors.RecordingError(path, f'corrupt EDF header: {e}') from e


def read_header(path: str | os.PathLike[str], *, allow_truncated: bool = False) -> EdfHeader:
  """Reads the header of an EDF (no signal data).

  Raises:
    RecordingError: if the file is corrupt, empty or truncated (unless
      `allow_truncated`).
  """
  path = os.fspath(path)
  edf, layout, _ = _open(path, allow_truncated)
  num_records = _kept_records(layout)
  edf_signals, _ = _signals_and_labels(path, edf)
  try:
    signals = tuple(_signal_header(s) for s in edf_signals)
  except (ValueError, ZeroDivisionError) as e:
    raise errors.RecordingError(path, f'corrupt EDF header: {e}') from e
  return EdfHeader(
      path=path,
      start=_start_datetime(edf),
      duration_s=num_records * layout.record_duration_s,
      num_records=num_records,
      record_duration_s=layout.record_duration_s,
      signals=signals,
  )


def _kept_records(layout: _Layout) -> int:
  """Records to use: the declared count, unless the file holds fewer."""
  if layout.declared_records < 0:
    return layout.present_records
  return min(layout.declared_records, layout.present_records)


def _read_channel(name: str, signal: edfio.EdfSignal, num_records: int) -> Channel | ChannelProblem:
  """Reads and checks one signal; a problem if it must be treated as absent."""
  header = _signal_header(signal)
  reason = check_ranges(header.physical_range, header.digital_range)
  if reason is not None:
    return ChannelProblem(name, header.label, reason)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    data = np.asarray(signal.data, dtype=np.float64)  # Checked before float32.
  data = data[:num_records * signal.samples_per_data_record]
  reason = check_samples(data, _lsb(header.physical_range, header.digital_range))
  if reason is not None:
    return ChannelProblem(name, header.label, reason)
  return Channel(
      data=data.astype(np.float32),
      rate_hz=header.rate_hz,
      label=header.label,
      unit=header.unit,
      physical_range=header.physical_range,
  )


def read_recording(
    path: str | os.PathLike[str],
    names: Sequence[str] = channels_lib.SIGNAL_NAMES,
    *,
    table: Mapping[str, channels_lib.SignalSpec] | None = None,
    allow_truncated: bool = False,
    reference_lookup: bool = False,
) -> Recording:
  """Reads the wanted channels of an EDF at their native rates.

  Args:
    path: the EDF file.
    names: canonical signal names to read.
    table: signal table with the aliases to look up (default `signal_table()`;
      pass `signal_table(cohort_aliases)` for cohort-specific labels).
    allow_truncated: keep the complete data records of a truncated file
      (noted in `Recording.notes`) instead of raising.
    reference_lookup: find channels as the reference does
      (`match_reference_channels`; `table` is then not used for lookup).

  Returns:
    A `Recording`; wanted channels that are missing or defective are absent
    from `channels` and listed in `problems`.

  Raises:
    RecordingError: if the file as a whole cannot be read.
    ValueError: if `names` contains a signal not in `table`.
  """
  path = os.fspath(path)
  table = channels_lib.signal_table() if table is None else table
  unknown = [n for n in names if n not in table]
  if unknown:
    raise ValueError(f'Unknown signals {unknown}; known: {list(table)}')
  edf, layout, notes = _open(path, allow_truncated)
  num_records = _kept_records(layout)
  edf_signals, labels = _signals_and_labels(path, edf)
  channels: dict[str, Channel] = {}
  if reference_lookup:
    units = [s.physical_dimension for s in edf_signals]
    found, problems = match_reference_channels(labels, units, names)
  else:
    found, problems = match_channels(labels, names, table)
  for name, index in found.items():
    result = _read_channel(name, edf_signals[index], num_records)
    if isinstance(result, ChannelProblem):
      problems.append(result)
    else:
      channels[name] = result
  return Recording(
      path=path,
      start=_start_datetime(edf),
      duration_s=num_records * layout.record_duration_s,
      channels=channels,
      problems=tuple(problems),
      labels=labels,
      notes=tuple(notes),
  )


def read_edf_annotations(
    path: str | os.PathLike[str]
) -> tuple[datetime.datetime | None, tuple[edfio.EdfAnnotation, ...]]:
  """(start, annotations) of an EDF+ file, e.g. an annotation-only scoring file.

  Raises:
    RecordingError: missing, unreadable or corrupt file.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise errors.RecordingError(path, 'file not found')
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      edf = edfio.read_edf(path)
      return _start_datetime(edf), tuple(edf.annotations)
  except Exception as e:  # edfio raises assorted types on corrupt files.
    raise errors.RecordingError(path, f'corrupt EDF+ file: {type(e).__name__}: {e}') from e
