"""Per-night signal normalisation."""

from __future__ import annotations

import math

import numpy as np

STD_FLOOR = 1e-6


def zscore(x_BT: np.ndarray, std_floor: float = STD_FLOOR) -> np.ndarray:
  """Z-score each night (row) on its finite samples; non-finite rows stay as is."""
  x_BT = np.asarray(x_BT, dtype=np.float32)
  finite = np.isfinite(x_BT)
  count = np.maximum(finite.sum(axis=-1, keepdims=True), 1)
  safe = np.where(finite, x_BT, 0.0)
  mean = safe.sum(axis=-1, keepdims=True) / count
  var = (np.where(finite, x_BT - mean, 0.0)**2).sum(axis=-1, keepdims=True) / count
  return ((x_BT - mean) / np.maximum(np.sqrt(var), std_floor)).astype(np.float32)


def causal_normalize(x_T: np.ndarray,
                     rate_hz: float,
                     baseline_tau_s: float = 120.0,
                     variance_tau_s: float = 900.0,
                     clip_sigma: float = 4.0,
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
    out, _ = sp_signal.lfilter([alpha], [1.0, alpha - 1.0], values, zi=[(1.0 - alpha) * initial])
    return out

  baseline = ema(x, baseline_tau_s, x[0])
  residual = x - baseline
  initial_var = float(np.var(x[:max(1, int(rate_hz * 30))]))  # First 30 s.
  rough_sigma = np.sqrt(np.maximum(ema(residual**2, variance_tau_s, initial_var), 0))
  rough_sigma = np.maximum(rough_sigma, sigma_floor)
  bound = clip_sigma * np.concatenate([[rough_sigma[0]], rough_sigma[:-1]])
  clipped = np.clip(residual, -bound, bound)
  sigma = np.sqrt(np.maximum(ema(clipped**2, variance_tau_s, initial_var), 0))
  return (residual / np.maximum(sigma, sigma_floor)).astype(np.float32)


# --- 'reference' preprocessing (the reference's data/dataset.py, data/normalization.py) ---

REFERENCE_STD_FLOOR = 1e-6
# Its causal normaliser (settings.py): baseline tau 120 s, variance tau 900 s,
# residuals clipped at 4 sigma, sigma floor 0.1.
REFERENCE_EMA = dict(baseline_tau_s=120.0, variance_tau_s=900.0, clip_sigma=4.0, sigma_floor=0.1)


def reference_zscore(x_T: np.ndarray) -> np.ndarray:
  """The reference's z-score of one signal over its whole grid (float32).

  torch semantics: mean and unbiased std over every sample, the std floored at
  1e-6; statistics accumulated in float64, applied in float32.
  """
  x_T = np.asarray(x_T, np.float32)
  wide = x_T.astype(np.float64)
  mean = wide.mean()
  std = np.sqrt(np.square(wide - mean).sum() / max(x_T.size - 1, 1))
  std = np.float32(std) if np.float32(std) > REFERENCE_STD_FLOOR else np.float32(
      REFERENCE_STD_FLOOR)
  return ((x_T - np.float32(mean)) / std).astype(np.float32)


def _clipped_variance(residual: np.ndarray, alpha: float, initial: float, floor_sq: float,
                      clip_sigma: float) -> np.ndarray:
  """var[t] = a * clip(r[t], +-clip * sqrt(max(var[t-1], floor)))^2 + (1 - a) * var[t-1].

  The reference's sequential recursion, exactly (float64; about 0.3 us a sample).
  """
  out = [initial]
  previous, keep = initial, 1.0 - alpha
  for r in residual[1:].tolist():
    bound = clip_sigma * math.sqrt(previous if previous > floor_sq else floor_sq)
    if r > bound:
      r = bound
    elif r < -bound:
      r = -bound
    previous = alpha * (r * r) + keep * previous
    out.append(previous)
  return np.asarray(out)


def reference_causal_normalize(x_T: np.ndarray, rate_hz: float) -> np.ndarray:
  """The reference's causal EMA normaliser (what it trains causal checkpoints with).

  baseline mu[t] = a_b x[t] + (1 - a_b) mu[t-1], a = (1 / rate) / tau; the first
  min(tau_b * rate, 10% of the signal) samples give mu[0] and var[0]; variance
  updated with the residual clipped at 4 sigma of the previous step; output
  (x - mu) / max(sigma, 0.1).
  """
  from scipy import signal as sp_signal

  x = np.asarray(x_T, np.float32)
  if x.size == 0:
    return x
  p = REFERENCE_EMA
  dt = 1.0 / rate_hz
  a_base, a_var = dt / p['baseline_tau_s'], dt / p['variance_tau_s']
  floor_sq = p['sigma_floor']**2
  warm = max(1, min(int(min(p['baseline_tau_s'], p['variance_tau_s']) * rate_hz), x.size // 10))
  mu0 = float(np.mean(x[:warm]))
  var0 = max(float(np.var(x[:warm])), floor_sq, 1e-6)
  wide = x.astype(np.float64)
  mu = np.empty_like(wide)
  mu[0] = mu0
  if x.size > 1:
    mu[1:], _ = sp_signal.lfilter([a_base], [1.0, a_base - 1.0],
                                  wide[1:],
                                  zi=[(1.0 - a_base) * mu0])
  variance = _clipped_variance(wide - mu, a_var, var0, floor_sq, p['clip_sigma'])
  sigma = np.sqrt(np.maximum(variance, floor_sq))
  return ((x - mu) / sigma).astype(np.float32)
