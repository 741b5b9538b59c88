"""CSV and parquet nights: signal columns of a table (read by `night.read_night`).

One row per sample, a required `time` column (seconds from the recording start,
uniformly spaced: the sample rate is taken from it) and one column per signal
named by its canonical name (ECG, PPG, ABD, THX, EOG-L, EOG-R; aliases and a
channel map apply to column names too). All signals share the table's rate;
empty cells are NaN (gaps are interpolated by resampling, an all-empty column
is an absent signal). Tables carry no labels.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import errors

TIME_COLUMN = 'time'


class TableError(errors.RecordingError):
  """A CSV/parquet night is unreadable or unusable."""

  stage = 'table'


def read_channels(
    path: str, signals: Sequence[str], table: Mapping[str, channels_lib.SignalSpec]
) -> tuple[dict[str, tuple[np.ndarray, float]], list[edf_lib.ChannelProblem], float]:
  """({signal: (samples, rate_hz)}, absent signals, duration in s) of a table.

  Raises:
    TableError: unreadable table or a bad `time` column.
  """
  columns = _read_columns(path)
  labels = [c for c in columns if c != TIME_COLUMN]
  rate = _sample_rate(path, columns.get(TIME_COLUMN))
  channels = {}
  found, problems = edf_lib.match_channels(labels, signals, table, noun='column named')
  for signal, index in found.items():
    data = columns[labels[index]]
    reason = 'not numeric' if data is None else edf_lib.check_samples(data)
    if reason is not None:
      problems.append(edf_lib.ChannelProblem(signal, labels[index], reason))
      continue
    channels[signal] = (data, rate)
  return channels, problems, len(columns[TIME_COLUMN]) / rate


def _read_columns(path: str) -> dict[str, np.ndarray | None]:
  """All columns as float64 arrays (None if not numeric; TableError if unreadable)."""
  import pyarrow as pa

  kind = 'csv' if path.lower().endswith('.csv') else 'parquet'
  try:
    if kind == 'csv':
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
    raise TableError(path, f'{TIME_COLUMN!r} column needs at least 2 finite values')
  step_s = (time[-1] - time[0]) / (len(time) - 1)
  steps = np.diff(time)
  if not step_s > 0 or np.abs(steps - step_s).max() > 0.01 * step_s:
    raise TableError(
        path, f'{TIME_COLUMN!r} column is not uniformly increasing (steps from '
        f'{steps.min():g} to {steps.max():g} s)')
  return 1.0 / step_s
