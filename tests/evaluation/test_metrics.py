"""Kappa/accuracy from pooled confusion matrices, cross-checked with scikit-learn."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from wav2sleep_jax.evaluation import metrics


def test_confusion_and_kappa_match_sklearn():
  sk = pytest.importorskip('sklearn.metrics')
  rng = np.random.default_rng(0)
  labels = rng.integers(-1, 4, (6, 50))
  pred = np.where(rng.random((6, 50)) < 0.6, np.maximum(labels, 0), rng.integers(0, 4, (6, 50)))
  cm = np.asarray(metrics.confusion_matrix(jnp.asarray(labels), jnp.asarray(pred), 4))
  valid = labels >= 0
  np.testing.assert_array_equal(cm,
                                sk.confusion_matrix(labels[valid], pred[valid], labels=range(4)))
  assert metrics.cohen_kappa(cm) == pytest.approx(
      sk.cohen_kappa_score(labels[valid], pred[valid]), abs=1e-12)
  assert metrics.accuracy(cm) == pytest.approx(sk.accuracy_score(labels[valid], pred[valid]))
  per_night = np.asarray(metrics.per_night_confusion(jnp.asarray(labels), jnp.asarray(pred), 4))
  np.testing.assert_array_equal(per_night.sum(0), cm)
  p, r, f, _ = sk.precision_recall_fscore_support(
      labels[valid], pred[valid], labels=range(4), zero_division=np.nan)
  scores = metrics.per_class_scores(cm)
  np.testing.assert_allclose(scores['precision'], p)
  np.testing.assert_allclose(scores['recall'], r)
  np.testing.assert_allclose(scores['f1'], f)


def test_kappa_edge_cases():
  assert np.isnan(metrics.cohen_kappa(np.zeros((4, 4))))
  assert metrics.cohen_kappa(np.diag([5, 0, 0, 0])) == 1.0
  assert metrics.cohen_kappa(np.array([[0, 5], [5, 0]])) == pytest.approx(-1.0)


def test_f1_is_zero_for_a_class_never_hit_and_nan_for_an_absent_one():
  scores = metrics.per_class_scores(np.array([[0, 3, 0], [2, 5, 0], [0, 0, 0]]))
  np.testing.assert_allclose(scores['f1'][:2], [0.0, 2 * 5 / (2 * 5 + 3 + 2)])
  assert np.isnan(scores['f1'][2])  # Neither scored nor predicted.


def test_host_confusion_matrix_equals_jitted_one():
  rng = np.random.default_rng(1)
  for k in (4, 5):
    labels = rng.integers(-1, k, 300)
    pred = rng.integers(0, k, 300)
    host = metrics.host_confusion_matrix(labels, pred, k)
    device = np.asarray(
        metrics.confusion_matrix(jnp.asarray(labels[None]), jnp.asarray(pred[None]), k))
    np.testing.assert_array_equal(host, device)
    assert host.sum() == (labels >= 0).sum()
  empty = metrics.host_confusion_matrix(np.full(3, -1), np.zeros(3, int), 4)
  np.testing.assert_array_equal(empty, np.zeros((4, 4)))
