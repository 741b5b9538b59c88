"""Helpers for the PSG parsing tests: small EDFs written on the fly."""

from __future__ import annotations

import datetime
import pathlib
from typing import NamedTuple, Sequence

import edfio
import numpy as np

# ../shared next to the checkout (never an absolute path).
SHARED_DIR = pathlib.Path(__file__).resolve().parents[2] / '..' / 'shared'

# Byte offset of each per-signal header field inside the signal header block,
# in units of the number of signals, and its width (EDF specification).
_FIELD_OFFSET_WIDTH = {
    'label': (0, 16),
    'transducer': (16, 80),
    'unit': (96, 8),
    'physical_min': (104, 8),
    'physical_max': (112, 8),
    'digital_min': (120, 8),
    'digital_max': (128, 8),
    'samples_per_record': (216, 8),
}


class Sig(NamedTuple):
  """A signal to write: label, samples, rate, unit, physical range."""
  label: str
  data: np.ndarray
  rate_hz: float
  unit: str = ''
  physical_range: tuple[float, float] | None = None


def write_edf(
    path: pathlib.Path,
    sigs: Sequence[Sig],
    start: datetime.datetime = datetime.datetime(2001, 2, 3, 22, 15, 30)
) -> pathlib.Path:
  """Writes an EDF with one data record per second."""
  edf = edfio.Edf(
      [
          edfio.EdfSignal(
              np.asarray(s.data, dtype=np.float64),
              s.rate_hz,
              label=s.label,
              physical_dimension=s.unit,
              physical_range=s.physical_range) for s in sigs
      ],
      recording=edfio.Recording(startdate=start.date()),
      starttime=start.time(),
      data_record_duration=1,
  )
  edf.write(path)
  return path


def patch_header(path: pathlib.Path, field: str, signal_index: int, value: str) -> None:
  """Overwrites one per-signal header field in place (to fake defects)."""
  raw = bytearray(path.read_bytes())
  num_signals = int(raw[252:256].decode())
  offset, width = _FIELD_OFFSET_WIDTH[field]
  start = 256 + offset * num_signals + width * signal_index
  raw[start:start + width] = value.encode('ascii').ljust(width)
  path.write_bytes(bytes(raw))


def tone(freq_hz: float, rate_hz: float, seconds: float, amplitude: float = 1.0) -> np.ndarray:
  t = np.arange(int(round(seconds * rate_hz))) / rate_hz
  return amplitude * np.sin(2 * np.pi * freq_hz * t)
