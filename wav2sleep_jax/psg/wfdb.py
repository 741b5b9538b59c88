"""Decodes WFDB (PhysioNet) annotation files in MIT format, and record headers.

Written from the format description (PhysioNet `annot(5)`) to avoid a dependency
for one small binary format. An annotation file is a stream of little-endian
16-bit words: the top 6 bits are a code A, the low 10 bits a value I.

* A in 1..58 (or A == 0 with I > 0): an annotation of type A, I samples after
  the previous one.
* A == 59 (SKIP): the next two words are a signed 32-bit interval, high word
  first, added to the time of the next annotation.
* A == 60 / 61 / 62 (NUM / SUB / CHN): set that field of the last annotation.
* A == 63 (AUX): I bytes of auxiliary text follow (padded to an even length),
  attached to the last annotation.
* A == 0 and I == 0: end of file (required; its absence means truncation).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re

from wav2sleep_jax.psg import errors

_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63


@dataclasses.dataclass
class WfdbAnnotation:
  """One annotation: sample index, type code, and modifier fields."""

  sample: int
  code: int
  aux: str = ''
  num: int = 0
  sub: int = 0
  chan: int = 0


def read_annotations(path: str | os.PathLike[str]) -> list[WfdbAnnotation]:
  """Reads all annotations of a MIT-format annotation file.

  Raises:
    AnnotationError: unreadable file, or truncated (data ending inside a
      field, or no end-of-file marker).
  """
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except OSError as e:
    raise errors.AnnotationError(path, f'cannot read file: {e}') from e
  if len(raw) % 2:
    raise errors.AnnotationError(path, 'odd number of bytes: not a WFDB '
                                 'annotation file or truncated')
  annotations: list[WfdbAnnotation] = []
  time = 0
  pos = 0
  ended = False

  def word(at: int) -> int:
    if at + 2 > len(raw):
      raise errors.AnnotationError(path, f'truncated at byte {at}')
    return raw[at] | (raw[at + 1] << 8)

  while pos < len(raw):
    w = word(pos)
    pos += 2
    code, value = w >> 10, w & 0x3FF
    if code == 0 and value == 0:
      ended = True
      break
    if code == _SKIP:
      interval = (word(pos) << 16) | word(pos + 2)
      if interval >= 1 << 31:
        interval -= 1 << 32
      time += interval
      pos += 4
    elif code in (_NUM, _SUB, _CHN, _AUX):
      if not annotations:
        raise errors.AnnotationError(
            path, f'modifier code {code} before any annotation at byte {pos - 2}')
      last = annotations[-1]
      if code == _AUX:
        if pos + value > len(raw):
          raise errors.AnnotationError(path, f'truncated aux text at byte {pos}')
        last.aux = raw[pos:pos + value].decode('latin-1').rstrip('\x00')
        pos += value + (value & 1)
      elif code == _NUM:
        last.num = value - 1024 if value >= 512 else value  # 10-bit signed.
      elif code == _SUB:
        last.sub = value - 1024 if value >= 512 else value
      else:
        last.chan = value
    else:
      time += value
      annotations.append(WfdbAnnotation(sample=time, code=code))
  if not ended:
    raise errors.AnnotationError(path, 'no end-of-file marker: truncated')
  return annotations


@dataclasses.dataclass(frozen=True)
class WfdbHeader:
  """Record line of a WFDB `.hea` file."""

  record: str
  sampling_rate_hz: float
  num_samples: int | None
  start_time: datetime.time | None


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


def read_header(path: str | os.PathLike[str]) -> WfdbHeader:
  """Parses the record line (first non-comment line) of a `.hea` file.

  Raises:
    AnnotationError: unreadable file or malformed record line.
  """
  try:
    with open(path, encoding='latin-1') as f:
      lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]
  except OSError as e:
    raise errors.AnnotationError(path, f'cannot read header: {e}') from e
  if not lines:
    raise errors.AnnotationError(path, 'empty WFDB header')
  fields = lines[0].split()
  try:
    rate = float(fields[2].split('/')[0]) if len(fields) > 2 else 250.0
    num_samples = int(fields[3]) if len(fields) > 3 else None
  except ValueError:
    raise errors.AnnotationError(
        path, f'malformed WFDB record line {lines[0]!r}') from None
  if rate <= 0:
    raise errors.AnnotationError(path, f'sampling rate {rate} <= 0')
  start = parse_time_of_day(fields[4]) if len(fields) > 4 else None
  return WfdbHeader(fields[0], rate, num_samples, start)
