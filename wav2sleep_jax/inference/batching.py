"""Batching nights of equal shape for the model (`Batcher`).

A night's logits do not depend on its batch-mates, so nights with the same
(epochs, signal set) share a forward pass; a failing batch is retried night
by night so that one bad night never takes its batch-mates down.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from wav2sleep_jax.inference import model as model_lib


class Batcher:
  """Groups nights by (epochs, signal set) into batches and runs the model.

  `add` returns the nights whose logits are ready. At most `max_pending`
  nights wait for batch-mates; beyond that the largest group runs as it is.
  """

  def __init__(self, model: model_lib.StagingModel, batch_size: int,
               max_pending: int | None = None):
    if batch_size < 1:
      raise ValueError(f'batch_size must be >= 1, got {batch_size}.')
    self._model = model
    self._batch_size = batch_size
    self._max_pending = max_pending if max_pending is not None else 2 * batch_size
    self._pending: dict[tuple, list[tuple[Any, dict[str, np.ndarray]]]] = {}

  def add(self, key: Any, x: Mapping[str, np.ndarray], num_epochs: int
          ) -> list[tuple[Any, np.ndarray | Exception]]:
    group = (num_epochs, tuple(n for n in self._model.signals if n in x))
    self._pending.setdefault(group, []).append((key, dict(x)))
    if len(self._pending[group]) >= self._batch_size:
      return self._run(group)
    if sum(len(v) for v in self._pending.values()) > self._max_pending:
      return self._run(max(self._pending, key=lambda g: len(self._pending[g])))
    return []

  def flush(self) -> list[tuple[Any, np.ndarray | Exception]]:
    done = []
    while self._pending:
      done += self._run(next(iter(self._pending)))
    return done

  def _run(self, group: tuple) -> list[tuple[Any, np.ndarray | Exception]]:
    members = self._pending.pop(group)
    done = []
    for i in range(0, len(members), self._batch_size):
      chunk = members[i:i + self._batch_size]
      batch = {n: np.stack([x[n] for _, x in chunk]) for n in group[1]}
      try:
        logits_BSK = self._model.logits(batch)
      except Exception as e:  # pylint: disable=broad-except  # Reported per night.
        if len(chunk) == 1:
          done.append((chunk[0][0], e))
        else:  # One bad night must not take its batch-mates down.
          done += [self._run_one(key, x, group[1]) for key, x in chunk]
        continue
      done += [(key, logits_BSK[j]) for j, (key, _) in enumerate(chunk)]
    return done

  def _run_one(self, key: Any, x: Mapping[str, np.ndarray], names: Sequence[str]
               ) -> tuple[Any, np.ndarray | Exception]:
    try:
      return key, self._model.logits({n: x[n][None] for n in names})[0]
    except Exception as e:  # pylint: disable=broad-except  # Reported per night.
      return key, e
