"""Batching nights for the model (`Batcher`), at exact lengths or in length buckets.

A night's logits do not depend on its batch-mates, so nights with the same
(length, signal set) share a forward pass. With `bucket_epochs` nights are
zero-padded to the next multiple of it and run with exact padding
(`valid_epochs`), so nights of different lengths share a batch and the
compilations are bounded by buckets x signal sets x batch sizes, not by
nights. A batch of fewer than `batch_size` nights is filled up (with copies
of a night, whose outputs are dropped) to the smallest batch size already
compiled for its group, else to the next power of two: on CPU a compilation
costs several nights' inference. A failing batch is retried night by night
so that one bad night never takes its batch-mates down.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.inference import model as model_lib

EPOCHS_PER_HOUR = 3600 // signals_lib.EPOCH_SECONDS


def bucket_length(num_epochs: int, bucket_epochs: int) -> int:
  """`num_epochs` rounded up to a multiple of `bucket_epochs` (0: unchanged); never less."""
  if bucket_epochs <= 0:
    return num_epochs
  return -(-num_epochs // bucket_epochs) * bucket_epochs


def hours_to_epochs(hours: float) -> int:
  """Bucket width in epochs of `hours` (0: exact lengths, no buckets)."""
  if hours < 0:
    raise ValueError(f'bucket_hours must be >= 0, got {hours}.')
  epochs = round(hours * EPOCHS_PER_HOUR)
  if hours and epochs < 1:
    raise ValueError(f'bucket_hours={hours} is shorter than one 30-s epoch.')
  return epochs


def batch_rows(n: int, batch_size: int, compiled: Sequence[int] = ()) -> int:
  """Rows to run n <= batch_size nights in: the smallest compiled size >= n, else the
  next power of two (at most batch_size)."""
  fits = [rows for rows in compiled if rows >= n]
  return min(fits) if fits else min(batch_size, 1 << max(n - 1, 0).bit_length())


def _pad_night(x: Mapping[str, np.ndarray], names: Sequence[str], num_epochs: int,
               epochs: int) -> dict[str, np.ndarray]:
  """A night's signals of `num_epochs` epochs zero-padded to `epochs`."""
  out = {}
  for n in names:
    k = signals_lib.samples_per_epoch(n)
    if np.shape(x[n]) != (num_epochs * k,):
      raise ValueError(f'{n}: {np.shape(x[n])} samples, expected {num_epochs} epochs '
                       f'({num_epochs * k} samples).')
    out[n] = np.pad(x[n], (0, (epochs - num_epochs) * k))
  return out


class Batcher:
  """Groups nights by (length or bucket, signal set) into batches and runs the model.

  `add` returns the nights whose logits ([epochs, K], cropped to the night) are
  ready. At most `max_pending` nights wait for batch-mates; beyond that the
  largest group runs as it is.
  """

  def __init__(self, model: model_lib.StagingModel, batch_size: int,
               max_pending: int | None = None, bucket_epochs: int = 0):
    if batch_size < 1:
      raise ValueError(f'batch_size must be >= 1, got {batch_size}.')
    self._model = model
    self._batch_size = batch_size
    self._bucket_epochs = bucket_epochs
    self._max_pending = max_pending if max_pending is not None else 2 * batch_size
    self._pending: dict[tuple, list[tuple[Any, dict[str, np.ndarray], int]]] = {}
    self._compiled: dict[tuple, set[int]] = {}  # Group -> batch sizes run (bucketed).

  def add(self, key: Any, x: Mapping[str, np.ndarray], num_epochs: int
          ) -> list[tuple[Any, np.ndarray | Exception]]:
    group = (bucket_length(num_epochs, self._bucket_epochs),
             tuple(n for n in self._model.signals if n in x))
    self._pending.setdefault(group, []).append((key, dict(x), num_epochs))
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

  def _logits(self, chunk: Sequence[tuple[Any, dict, int]], group: tuple) -> list[np.ndarray]:
    """Logits of each member of `chunk`, cropped to its length."""
    epochs, names = group
    if not self._bucket_epochs:
      logits_BSK = self._model.logits({n: np.stack([x[n] for _, x, _ in chunk]) for n in names})
      return list(logits_BSK)
    compiled = self._compiled.setdefault(group, set())
    rows = list(chunk) + [chunk[-1]] * (
        batch_rows(len(chunk), self._batch_size, sorted(compiled)) - len(chunk))
    padded = [_pad_night(x, names, s, epochs) for _, x, s in rows]
    logits_BSK = self._model.logits({n: np.stack([p[n] for p in padded]) for n in names},
                                    valid_epochs=np.array([s for _, _, s in rows]))
    compiled.add(len(rows))
    return [logits_BSK[j, :s] for j, (_, _, s) in enumerate(chunk)]

  def _run(self, group: tuple) -> list[tuple[Any, np.ndarray | Exception]]:
    members = self._pending.pop(group)
    done = []
    for i in range(0, len(members), self._batch_size):
      chunk = members[i:i + self._batch_size]
      try:
        logits = self._logits(chunk, group)
      except Exception as e:  # pylint: disable=broad-except  # Reported per night.
        if len(chunk) == 1:
          done.append((chunk[0][0], e))
        else:  # One bad night must not take its batch-mates down.
          done += [self._run_one(member, group) for member in chunk]
        continue
      done += [(key, logits_SK) for (key, _, _), logits_SK in zip(chunk, logits)]
    return done

  def _run_one(self, member: tuple[Any, dict, int], group: tuple
               ) -> tuple[Any, np.ndarray | Exception]:
    try:
      return member[0], self._logits([member], group)[0]
    except Exception as e:  # pylint: disable=broad-except  # Reported per night.
      return member[0], e
