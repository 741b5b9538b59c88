"""Per-night signal normalisation."""

from __future__ import annotations

import numpy as np

STD_FLOOR = 1e-6


def zscore(x_BT: np.ndarray, std_floor: float = STD_FLOOR) -> np.ndarray:
  """Z-score each night (row) on its finite samples; non-finite rows stay as is."""
  x_BT = np.asarray(x_BT, dtype=np.float32)
  finite = np.isfinite(x_BT)
  count = np.maximum(finite.sum(axis=-1, keepdims=True), 1)
  safe = np.where(finite, x_BT, 0.0)
  mean = safe.sum(axis=-1, keepdims=True) / count
  var = (np.where(finite, x_BT - mean, 0.0) ** 2).sum(axis=-1, keepdims=True) / count
  return ((x_BT - mean) / np.maximum(np.sqrt(var), std_floor)).astype(np.float32)


def causal_normalize(x_T: np.ndarray, rate_hz: float, baseline_tau_s: float = 120.0,
                     variance_tau_s: float = 900.0, clip_sigma: float = 4.0,
                     sigma_floor: float = 0.1) -> np.ndarray:
  """Causal per-sample normalisation with exponential moving averages (wav2sleep paper).

  baseline = EMA(x, tau 120 s); sigma^2 = EMA(residual^2, tau 900 s) where the
  residual entering the variance update is clipped at `clip_sigma` times the
  running sigma; output = (x - baseline) / max(sigma, floor). Every quantity at
  time t uses samples up to t only. The clipping bound comes from a first,
  unclipped variance pass (both passes are causal IIR filters, so the whole
  normaliser runs at C speed instead of a Python loop).
  """
  from scipy import signal as sp_signal

  x = np.asarray(x_T, dtype=np.float64)
  if x.size == 0:
    return x.astype(np.float32)

  def ema(values: np.ndarray, tau_s: float, initial: float) -> np.ndarray:
    alpha = 1.0 - np.exp(-1.0 / (tau_s * rate_hz))
    out, _ = sp_signal.lfilter([alpha], [1.0, alpha - 1.0], values,
                               zi=[(1.0 - alpha) * initial])
    return out

  baseline = ema(x, baseline_tau_s, x[0])
  residual = x - baseline
  initial_var = float(np.var(x[: max(1, int(rate_hz * 30))]))  # First 30 s.
  rough_sigma = np.sqrt(np.maximum(ema(residual**2, variance_tau_s, initial_var), 0))
  rough_sigma = np.maximum(rough_sigma, sigma_floor)
  bound = clip_sigma * np.concatenate([[rough_sigma[0]], rough_sigma[:-1]])
  clipped = np.clip(residual, -bound, bound)
  sigma = np.sqrt(np.maximum(ema(clipped**2, variance_tau_s, initial_var), 0))
  return (residual / np.maximum(sigma, sigma_floor)).astype(np.float32)
