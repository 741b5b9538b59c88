"""Evaluation core: pooled confusion matrices per (dataset, signal subset).

Confusion matrices accumulate on device; kappa/accuracy are computed on the host
from the matrix pooled over all scored epochs (the paper's "total kappa").
A subset is evaluated only on nights that have all of its signals; the empty
subset () means "all signals the night has".
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from wav2sleep_jax import losses
from wav2sleep_jax import metrics


def subset_name(subset: Sequence[str]) -> str:
  return '+'.join(subset) if subset else 'all available'


def subset_vector(subset: Sequence[str], signals: Sequence[str]) -> np.ndarray:
  unknown = set(subset) - set(signals)
  if unknown:
    raise ValueError(f'Subset {subset} names signals the model lacks: {sorted(unknown)}.')
  return np.array([(not subset) or (s in subset) for s in signals], bool)


def make_eval_step(graphdef: nnx.GraphDef, num_classes: int,
                   mesh: jax.sharding.Mesh | None = None) -> Callable:
  """eval_step(params, batch, subset_M, require_all) -> summed statistics.

  With a mesh, every output is replicated so each process can read the
  per-night results (batches are sharded over processes).
  """

  def eval_step(params, batch, subset_M, require_all):
    present_BM = batch['present']
    has_subset_B = jnp.where(require_all, (present_BM | ~subset_M).all(-1),
                             (present_BM & subset_M).any(-1))
    night_ok_B = batch['is_night'] & has_subset_B
    mask_BM = present_BM & subset_M & night_ok_B[:, None]
    # Nights without any signal attend to the CLS token only; their labels are ignored.
    logits_BSK = nnx.merge(graphdef, params)(batch['signals'], mask_BM)
    labels_BS = jnp.where(night_ok_B[:, None], batch['labels'], -1)
    loss_sum, count = losses.cross_entropy_sum(logits_BSK, labels_BS)
    pred_BS = logits_BSK.argmax(-1)
    return {'loss_sum': loss_sum, 'count': count, 'nights': night_ok_B.sum(),
            'cm': metrics.confusion_matrix(labels_BS, pred_BS, num_classes),
            'night_cm': metrics.per_night_confusion(labels_BS, pred_BS, num_classes),
            'night_ok': night_ok_B}

  if mesh is None:
    return jax.jit(eval_step)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return jax.jit(eval_step, out_shardings=replicated)


@dataclasses.dataclass
class SubsetResult:
  """Pooled results of one signal subset on one dataset."""
  subset: tuple[str, ...]
  nights: int = 0
  loss_sum: float = 0.0
  count: int = 0
  cm: np.ndarray | None = None
  night_kappas: list[float] = dataclasses.field(default_factory=list)

  @property
  def loss(self) -> float:
    return self.loss_sum / self.count if self.count else float('nan')

  @property
  def kappa(self) -> float:
    return metrics.cohen_kappa(self.cm) if self.cm is not None else float('nan')

  @property
  def accuracy(self) -> float:
    return metrics.accuracy(self.cm) if self.cm is not None else float('nan')

  def summary(self) -> dict[str, Any]:
    kappas = np.asarray(self.night_kappas, float)
    kappas = kappas[np.isfinite(kappas)]
    q = np.percentile(kappas, [25, 50, 75]) if kappas.size else [float('nan')] * 3
    scores = metrics.per_class_scores(self.cm) if self.cm is not None else {}
    return {'subset': subset_name(self.subset), 'nights': self.nights,
            'scored_epochs': self.count, 'loss': self.loss, 'kappa': self.kappa,
            'accuracy': self.accuracy, 'night_kappa_median': float(q[1]),
            'night_kappa_iqr': [float(q[0]), float(q[2])],
            'confusion_matrix': None if self.cm is None else self.cm.tolist(),
            **{k: v.tolist() for k, v in scores.items()}}


def evaluate(eval_step: Callable, params: Any, batches: Iterable[dict], signals: Sequence[str],
             subsets: Sequence[Sequence[str]], to_device: Callable = lambda b: b
             ) -> dict[tuple[str, ...], SubsetResult]:
  """Run every subset over every batch (each batch is read once)."""
  results = {tuple(s): SubsetResult(tuple(s)) for s in subsets}
  vectors = {tuple(s): jnp.asarray(subset_vector(s, signals)) for s in subsets}
  for batch in batches:
    batch = to_device(batch)
    for subset, res in results.items():
      out = jax.device_get(eval_step(params, batch, vectors[subset], bool(subset)))
      res.nights += int(out['nights'])
      res.loss_sum += float(out['loss_sum'])
      res.count += int(out['count'])
      res.cm = out['cm'] if res.cm is None else res.cm + out['cm']
      for ok, night_cm in zip(out['night_ok'], out['night_cm']):
        if ok and night_cm.sum():
          res.night_kappas.append(metrics.cohen_kappa(night_cm))
  return results
