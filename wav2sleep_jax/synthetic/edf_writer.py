"""EDF files of generated nights (NSRR's anonymised header), with injectable defects."""

from __future__ import annotations

import dataclasses
import os

import edfio
import numpy as np

from wav2sleep_jax.synthetic.night_generator import Night


@dataclasses.dataclass(frozen=True)
class Defects:
  """Recording defects to inject when writing (for tests of readers)."""
  flat: tuple[str, ...] = ()  # Labels written as a constant.
  physical_max_zero: tuple[str, ...] = ()  # Labels whose header physical maximum becomes 0.
  ends_early_s: tuple[tuple[str, float], ...] = ()  # (label, seconds): flat after that time.


def write_edf(path: str, night: Night, defects: Defects = Defects()) -> None:
  signals = []
  for label, ch in night.channels.items():
    data = ch.data.astype(np.float64)
    if label in defects.flat:
      data = np.full_like(data, 0.5 * (ch.physical_range[0] + ch.physical_range[1]))
    for early_label, seconds in defects.ends_early_s:
      if early_label == label:
        data[int(seconds * ch.rate):] = data[int(seconds * ch.rate) - 1] if seconds > 0 else 0.0
    signals.append(
        edfio.EdfSignal(
            data,
            ch.rate,
            label=label,
            physical_dimension=ch.unit,
            physical_range=ch.physical_range))
  edf = edfio.Edf(
      signals,
      patient=edfio.Patient(),
      recording=edfio.Recording(startdate=night.start_time.date()),
      starttime=night.start_time.time(),
      data_record_duration=1.0)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  edf.write(path)
  for label in defects.physical_max_zero:
    set_physical_max(path, label, 0.0)


def set_physical_max(path: str, label: str, value: float) -> None:
  """Overwrites the physical maximum of one signal in an EDF header (to fake broken files)."""
  with open(path, 'r+b') as f:
    head = f.read(256)
    ns = int(head[252:256])
    labels = [f.read(16).decode('ascii').strip() for _ in range(ns)]
    i = labels.index(label)
    f.seek(256 + ns * (16 + 80 + 8 + 8) + 8 * i)
    f.write(f'{value:<8g}'.encode('ascii')[:8].ljust(8))
