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
