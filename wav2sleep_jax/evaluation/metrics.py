"""Sleep-staging metrics: pooled confusion matrices, Cohen's kappa, accuracy.

Two confusion matrices with one meaning: `confusion_matrix` (jnp, inside the jitted eval
step) and `host_confusion_matrix` (NumPy, for single nights on the host).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def confusion_matrix(labels_BS: jax.Array, pred_BS: jax.Array, num_classes: int) -> jax.Array:
  """[K, K] counts (rows = true, cols = predicted) over epochs with label >= 0."""
  valid = labels_BS >= 0
  idx = jnp.where(valid, labels_BS * num_classes + pred_BS, 0)
  counts = jnp.zeros(num_classes * num_classes,
                     jnp.int32).at[idx.ravel()].add(valid.ravel().astype(jnp.int32))
  return counts.reshape(num_classes, num_classes)


def host_confusion_matrix(labels_S: np.ndarray, pred_S: np.ndarray, num_classes: int) -> np.ndarray:
  """NumPy `confusion_matrix`: [K, K] int64 counts over epochs with label >= 0."""
  labels_S, pred_S = np.asarray(labels_S), np.asarray(pred_S)
  scored = labels_S >= 0
  flat = labels_S[scored].astype(np.int64) * num_classes + pred_S[scored]
  return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_night_confusion(labels_BS: jax.Array, pred_BS: jax.Array, num_classes: int) -> jax.Array:
  """[B, K, K] confusion matrix of every night."""
  return jax.vmap(lambda l, p: confusion_matrix(l[None], p[None], num_classes))(labels_BS, pred_BS)


def cohen_kappa(cm: np.ndarray) -> float:
  """Cohen's kappa of a confusion matrix (nan if it is empty)."""
  cm = np.asarray(cm, dtype=np.float64)
  total = cm.sum()
  if total == 0:
    return float('nan')
  observed = np.trace(cm) / total
  expected = (cm.sum(0) * cm.sum(1)).sum() / total**2
  if expected == 1.0:
    return 1.0 if observed == 1.0 else 0.0
  return float((observed - expected) / (1.0 - expected))


def accuracy(cm: np.ndarray) -> float:
  cm = np.asarray(cm, dtype=np.float64)
  return float(np.trace(cm) / cm.sum()) if cm.sum() else float('nan')


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
  """Precision, recall and F1 per class (nan where undefined).

  F1 = 2 TP / (2 TP + FP + FN): 0 when a class is scored or predicted but never
  both, nan only when it is neither (as scikit-learn's zero_division=nan).
  """
  cm = np.asarray(cm, dtype=np.float64)
  tp = np.diag(cm)
  with np.errstate(invalid='ignore', divide='ignore'):
    precision = tp / cm.sum(0)
    recall = tp / cm.sum(1)
    f1 = 2 * tp / (cm.sum(0) + cm.sum(1))
  return {'precision': precision, 'recall': recall, 'f1': f1}
