"""Resamples a channel from its native rate onto the model's 30-s epoch grid.

Resampling uses `scipy.signal.resample_poly` (polyphase FIR with a Kaiser-window
anti-aliasing low-pass at the lower of the two Nyquist frequencies), with the
rate ratio approximated by a fraction up/down. Sample 0 of the output is at the
time of sample 0 of the input (the recording start), so epoch e covers output
samples [e * samples_per_epoch, (e + 1) * samples_per_epoch).

Non-finite samples (NaN/inf, e.g. garbage after the recording ends) are
replaced BEFORE filtering, otherwise one NaN would spread over a whole filter
length: interior gaps are linearly interpolated between the nearest finite
samples, leading/trailing gaps hold the nearest finite value. An all-non-finite
channel becomes zeros. Output is always finite.
"""

from __future__ import annotations

import fractions
import math

import numpy as np
from scipy import signal as sp_signal

from wav2sleep_jax.psg import channels as channels_lib

# Largest denominator of the up/down ratio; bounds filter length and memory.
MAX_DENOMINATOR = 10_000


def rational_ratio(rate_hz: float,
                   target_rate_hz: float,
                   max_denominator: int = MAX_DENOMINATOR) -> tuple[int, int]:
  """(up, down) with up / down ~= target_rate_hz / rate_hz, in lowest terms.

  Exact for the usual PSG rates: e.g. 125 Hz -> 1024 / 30 s gives (512, 1875).
  Float noise in the rates (e.g. 25 samples / 0.1 s) is removed first.
  """
  if not (rate_hz > 0 and target_rate_hz > 0):
    raise ValueError(f'Rates must be positive, got {rate_hz}, {target_rate_hz}.')
  rate = fractions.Fraction(rate_hz).limit_denominator(1000)
  target = fractions.Fraction(target_rate_hz).limit_denominator(1000)
  ratio = (target / rate).limit_denominator(max_denominator)
  if ratio == 0:
    raise ValueError(f'Cannot resample {rate_hz} Hz to {target_rate_hz} Hz.')
  return ratio.numerator, ratio.denominator


def fill_nonfinite(x: np.ndarray) -> np.ndarray:
  """Copy of `x` (float64) with NaN/inf replaced as described in the module doc."""
  x = np.asarray(x, dtype=np.float64)
  bad = ~np.isfinite(x)
  if not bad.any():
    return x.copy()
  if bad.all():
    return np.zeros_like(x)
  good_index = np.flatnonzero(~bad)
  out = x.copy()
  out[bad] = np.interp(np.flatnonzero(bad), good_index, x[good_index])
  return out


def resample_signal(x: np.ndarray, rate_hz: float, target_rate_hz: float) -> np.ndarray:
  """Resamples a 1-D signal with anti-aliasing; returns finite float32.

  The output has ceil(len(x) * up / down) samples (see `rational_ratio`).
  """
  x = fill_nonfinite(np.ravel(x))
  up, down = rational_ratio(rate_hz, target_rate_hz)
  if up == down:
    return x.astype(np.float32)
  # padtype='mean' avoids the step (and ringing) that zero-padding would put at
  # both ends of a signal with a DC offset.
  y = sp_signal.resample_poly(x, up, down, padtype='mean')
  return y.astype(np.float32)


def fit_length(x: np.ndarray, length: int, pad_value: float = 0.0) -> np.ndarray:
  """Crops `x` to `length` samples or pads its end with `pad_value`."""
  if length < 0:
    raise ValueError(f'length must be >= 0, got {length}.')
  if x.shape[0] >= length:
    return x[:length]
  pad = np.full((length - x.shape[0],) + x.shape[1:], pad_value, dtype=x.dtype)
  return np.concatenate([x, pad])


def complete_epochs(num_samples: int, rate_hz: float) -> int:
  """Number of complete 30-s epochs in `num_samples` at `rate_hz`."""
  seconds = num_samples / rate_hz
  return int(math.floor(seconds / channels_lib.EPOCH_SECONDS + 1e-9))


def resample_to_epochs(
    x: np.ndarray,
    rate_hz: float,
    samples_per_epoch: int,
    max_epochs: int | None = None,
    pad_value: float = 0.0,
) -> np.ndarray:
  """Resamples a channel onto the epoch grid and fixes its number of epochs.

  Args:
    x: [num_samples] channel at its native rate.
    rate_hz: native rate.
    samples_per_epoch: target samples per 30-s epoch (1024, 256, 4096).
    max_epochs: number of epochs of the output: longer nights are cropped,
      shorter ones padded with `pad_value` (training uses 1200). If None, the
      complete epochs of the input are kept (a trailing partial epoch is
      dropped).
    pad_value: value of the padding epochs (in the channel's units; pad after
      normalisation instead if the padding must be 0 in z-score units).

  Returns:
    float32 [num_epochs * samples_per_epoch], finite.
  """
  num_epochs = (complete_epochs(len(x), rate_hz) if max_epochs is None else max_epochs)
  if num_epochs < 0:
    raise ValueError(f'max_epochs must be >= 0, got {max_epochs}.')
  target_rate = samples_per_epoch / channels_lib.EPOCH_SECONDS
  y = resample_signal(x, rate_hz, target_rate)
  return fit_length(y, num_epochs * samples_per_epoch, pad_value)
