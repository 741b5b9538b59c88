"""Helpers for prediction tests: synthetic nights on disk and signal tables."""

from __future__ import annotations

import dataclasses
import os

import edfio
import numpy as np

from wav2sleep_jax import synthetic
from wav2sleep_jax.synthetic import layouts


def write_night(
    root,
    cohort: str,
    index: int = 0,
    hours: float = 0.5,
    labels: tuple[str, ...] | None = None,
    relabel: dict | None = None,
    defects: synthetic.Defects = synthetic.Defects()
) -> tuple[synthetic.Night, str]:
  """Writes one synthetic night under root/<cohort>; returns (night, EDF path).

  Args:
    labels: keep only these EDF channels (fewer channels write faster).
    relabel: {old EDF label: new label}.
  """
  spec = layouts.get(cohort)
  channels = spec.channels
  if labels is not None:
    channels = tuple(c for c in channels if c.label in labels)
  if relabel:
    channels = tuple(
        dataclasses.replace(c, label=relabel.get(c.label, c.label), alt_labels=())
        for c in channels)
  spec = dataclasses.replace(spec, channels=channels)
  night = synthetic.generate_night(spec, seed=0, night_index=index, hours=hours)
  paths = synthetic.write_night(night, os.path.join(root, cohort), defects)
  return night, paths['edf']


def write_short_edf(path, seconds: float = 20.0) -> str:
  """An EDF shorter than one 30-s epoch (one THX channel)."""
  rate = 10
  data = np.sin(np.arange(int(seconds * rate)) / 3.0)
  edfio.Edf([edfio.EdfSignal(data, rate, label='Thor', physical_range=(-2, 2))]).write(path)
  return os.fspath(path)


def table_signals(epochs: int,
                  rate: float,
                  names=('ECG', 'THX'),
                  seed: int = 0) -> dict[str, np.ndarray]:
  """Random signals of `epochs` 30-s epochs at one shared `rate`, plus a `time` column."""
  rng = np.random.default_rng(seed)
  n = int(epochs * 30 * rate)
  columns = {'time': np.arange(n) / rate}
  columns.update({name: rng.standard_normal(n) for name in names})
  return columns


def write_table(path, columns: dict[str, np.ndarray]) -> str:
  """Writes columns as CSV or parquet (by extension)."""
  import pyarrow as pa

  path = os.fspath(path)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  table = pa.table(columns)
  if path.endswith('.parquet'):
    from pyarrow import parquet
    parquet.write_table(table, path)
  else:
    from pyarrow import csv
    csv.write_csv(table, path)
  return path
