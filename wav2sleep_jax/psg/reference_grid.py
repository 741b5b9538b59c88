"""'reference' preprocessing of a channel: the reference's units and its fixed time grid.

What the reference (joncarter1/wav2sleep: data/edf.py, data/preprocessing.py) does to
each channel of a night, and so what its published weights were trained on:

* units: ECG and EOG to millivolts by the header's physical dimension (uV, mV, V and
  their lower-case spellings, 'Volts'; a blank or other unit is left unscaled); PPG,
  ABD and THX scaled to [-1, 1] by the header's physical range,
  (x - centre) / (|max - min| / 2) (left as is if the range is 0 or unknown);
* grid: the channel's samples at t = i / rate are linearly interpolated at
  t = k * 30 / samples_per_epoch s, k = 1 .. max_hours * 120 * samples_per_epoch
  (the grid starts one sample after 0), inside the first..last sample only, and 0
  elsewhere (missing samples are dropped first): a shorter night is zero-filled to
  the grid, a longer one cut at it.

Channel lookup (the reference's alias table, exact labels, BROKEN units skipped) is
`psg.edf.match_reference_channels`; the z-score over the whole grid is
`data.normalize.reference_zscore`.
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import numpy as np

from wav2sleep_jax.psg import channels as channels_lib

VOLTAGE_SIGNALS = ('ECG', 'EOG-L', 'EOG-R')
ARBITRARY_UNIT_SIGNALS = ('PPG', 'ABD', 'THX')
TO_MILLIVOLTS = {'uV': 1e-3, 'uv': 1e-3, 'mV': 1.0, 'mv': 1.0, 'V': 1e3, 'v': 1e3, 'Volts': 1e3}


def millivolt_scale(unit: str) -> float:
  """Factor to mV of a voltage channel's physical dimension (1 if blank or unknown)."""
  return TO_MILLIVOLTS.get(unit.strip(), 1.0)


def to_reference_units(name: str, x_T: np.ndarray, unit: str,
                       physical_range: tuple[float, float] | None) -> np.ndarray:
  """A channel in the reference's units (float64): see the module docstring."""
  x_T = np.asarray(x_T, np.float64)
  if name in VOLTAGE_SIGNALS:
    return x_T * millivolt_scale(unit)
  if name in ARBITRARY_UNIT_SIGNALS and physical_range is not None:
    low, high = (float(v) for v in physical_range)
    span = abs(high - low)
    if span > 0:
      return (x_T - (high + low) / 2) / (span / 2)
  return x_T


@functools.lru_cache(maxsize=16)
def grid_times(samples_per_epoch: int, max_hours: float) -> np.ndarray:
  """Seconds of the grid's samples (read-only float64), as the reference builds them."""
  step = channels_lib.EPOCH_SECONDS / samples_per_epoch
  t = np.arange(0, max_hours * 3600 + 1e-9, step)[1:]
  t.setflags(write=False)
  return t


def to_grid(x_T: np.ndarray, rate_hz: float, samples_per_epoch: int,
            max_hours: float) -> np.ndarray:
  """Linear interpolation onto the reference grid, 0 outside the data (float32)."""
  x_T = np.asarray(x_T, np.float64)
  t_source = np.arange(x_T.size) / float(rate_hz)
  finite = np.isfinite(x_T)
  if not finite.all():  # The reference drops missing samples before interpolating.
    t_source, x_T = t_source[finite], x_T[finite]
  return np.interp(
      grid_times(samples_per_epoch, max_hours), t_source, x_T, left=0.0,
      right=0.0).astype(np.float32)


def channel_on_grid(name: str, x_T: np.ndarray, rate_hz: float, unit: str,
                    physical_range: tuple[float, float] | None, max_hours: float) -> np.ndarray:
  """One channel as the reference prepares it, before normalisation (float32)."""
  scaled = to_reference_units(name, x_T, unit, physical_range)
  return to_grid(scaled, rate_hz, channels_lib.SAMPLES_PER_EPOCH[name], max_hours)


# The reference's predict tool (api.prepare -> process_waveform_dataframe) joins the
# signals' grids with pd.concat, which appends each later column's new times after the
# earlier columns' instead of sorting them, and its dataset then reads each column in
# that joined order. Its ingest for training joins them in this order, in which every
# cardiorespiratory signal keeps time order (ECG's grid holds PPG's, ABD's and THX's).
TRAINING_COLUMN_ORDER = ('ECG', 'PPG', 'ABD', 'THX', 'EOG-L', 'EOG-R')
_TICKS_PER_EPOCH = max(channels_lib.SAMPLES_PER_EPOCH.values())  # Finest grid: 4096.


def joined_sample_order(names: Sequence[str], grid_epochs: int) -> dict[str, np.ndarray]:
  """{signal: index array} giving each signal's grid samples in the order of the
  reference's join of the grids of `names` (in that order); identity when the first
  name has the finest grid of them."""
  step = {n: _TICKS_PER_EPOCH // channels_lib.SAMPLES_PER_EPOCH[n] for n in names}
  covered = np.zeros(grid_epochs * _TICKS_PER_EPOCH + 1, bool)
  blocks = []
  for name in names:
    ticks = np.arange(1, grid_epochs * channels_lib.SAMPLES_PER_EPOCH[name] + 1) * step[name]
    blocks.append(ticks[~covered[ticks]])
    covered[ticks] = True
  return {n: np.concatenate([b[b % step[n] == 0] // step[n] - 1 for b in blocks]) for n in names}


def in_joined_order(signals: Mapping[str, np.ndarray], names: Sequence[str],
                    grid_epochs: int) -> dict[str, np.ndarray]:
  """`signals` (on the grid) reordered as the reference's join of `names` leaves them."""
  present = [n for n in names if n in signals]
  order = joined_sample_order(present, grid_epochs)
  return {
      n: (signals[n] if np.array_equal(order[n], np.arange(order[n].size)) else signals[n][order[n]]
         ) for n in present
  }
