"""Batching nights for the model (`Batcher`), at exact lengths or in length buckets.

A night's logits do not depend on its batch-mates, so nights with the same
(length, signal set) share a forward pass. With `bucket_epochs` nights are
zero-padded to the next multiple of it and run with exact padding
(`valid_epochs`), so nights of different lengths share a batch and the
compilations are bounded by buckets x signal sets x batch sizes, not by
nights. A batch of fewer than `batch_size` nights is filled up (with copies
of a night, whose outputs are dropped) to the smallest batch size already
compiled for its group, else to the next power of two: on CPU a compilation
costs several nights' inference. For the same reason a bucket may run in a
longer bucket's executable while the padding this has cost the bucket stays
below the measured cost of one compilation (`CompileBudget`, the ski-rental
rule: never worse than twice the better of the two choices); the remaining
groups run longest first so that shorter ones can reuse. A failing batch is
retried night by night so that one bad night never takes its batch-mates
down.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping, Sequence

import jax
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


_COMPILE_EVENT_PREFIX = '/jax/core/compile/'
_compile_seconds = [0.0]  # Trace + lower + compile time of this process, all threads.
_listener_lock = threading.Lock()
_listening = []


def _on_duration(event: str, duration: float, **_) -> None:
  if event.startswith(_COMPILE_EVENT_PREFIX):
    _compile_seconds[0] += duration


def compile_seconds() -> float:
  """Seconds this process has spent tracing and compiling since the first call."""
  with _listener_lock:
    if not _listening:
      jax.monitoring.register_event_duration_secs_listener(_on_duration)
      _listening.append(True)
  return _compile_seconds[0]


class CompileBudget:
  """When a bucket should run in a longer, compiled bucket's executable (ski rental).

  Learns from each forward pass the cost of one compilation and of one padded
  night-epoch; a bucket may borrow a longer executable while the padding it has
  paid for so far, plus this batch's, stays below one compilation.
  """

  def __init__(self):
    self._compiles = self._compile_s = 0.0
    self._row_epochs = self._run_s = 0.0
    self._paid: dict[tuple, float] = {}

  def observe(self, seconds: float, compile_s: float, row_epochs: int) -> None:
    """One forward pass: wall seconds, of which `compile_s` compiling, over row_epochs."""
    if compile_s > 0:
      self._compiles += 1
      self._compile_s += compile_s
    self._run_s += max(seconds - compile_s, 0.0)
    self._row_epochs += row_epochs

  def borrow(self, group: tuple, extra_row_epochs: int) -> bool:
    """True (and the padding is paid) if `group` should run with extra_row_epochs of padding."""
    if not self._compiles or not self._row_epochs:
      return False
    extra_s = extra_row_epochs * self._run_s / self._row_epochs
    paid = self._paid.get(group, 0.0) + extra_s
    if paid >= self._compile_s / self._compiles:
      return False
    self._paid[group] = paid
    return True


class Batcher:
  """Groups nights by (length or bucket, signal set) into batches and runs the model.

  `add` returns the nights whose logits ([epochs, K], cropped to the night) are
  ready. At most `max_pending` nights wait for batch-mates; beyond that the
  largest group runs as it is.
  """

  def __init__(self,
               model: model_lib.StagingModel,
               batch_size: int,
               max_pending: int | None = None,
               bucket_epochs: int = 0):
    if batch_size < 1:
      raise ValueError(f'batch_size must be >= 1, got {batch_size}.')
    self._model = model
    self._batch_size = batch_size
    self._bucket_epochs = bucket_epochs
    self._max_pending = max_pending if max_pending is not None else 2 * batch_size
    self._pending: dict[tuple, list[tuple[Any, dict[str, np.ndarray], int]]] = {}
    self._compiled: set[tuple[int, tuple[str, ...], int]] = set()  # (epochs, names, rows).
    self.budget = CompileBudget()

  def add(self, key: Any, x: Mapping[str, np.ndarray],
          num_epochs: int) -> list[tuple[Any, np.ndarray | Exception]]:
    group = (bucket_length(num_epochs,
                           self._bucket_epochs), tuple(n for n in self._model.signals if n in x))
    self._pending.setdefault(group, []).append((key, dict(x), num_epochs))
    if len(self._pending[group]) >= self._batch_size:
      return self._run(group)
    if sum(len(v) for v in self._pending.values()) > self._max_pending:
      return self._run(max(self._pending, key=lambda g: len(self._pending[g])))
    return []

  def flush(self) -> list[tuple[Any, np.ndarray | Exception]]:
    """Runs every waiting night, longest bucket first (shorter ones may reuse it)."""
    done = []
    while self._pending:
      done += self._run(max(self._pending, key=lambda g: g[0]))
    return done

  def _plan(self, group: tuple, n: int) -> tuple[int, int]:
    """(epochs, rows) to run n nights of a bucketed group in."""
    epochs, names = group
    rows = batch_rows(n, self._batch_size,
                      sorted(r for e, nm, r in self._compiled if (e, nm) == group))
    if (epochs, names, rows) in self._compiled:
      return epochs, rows
    longer = [(e * r, e, r) for e, nm, r in self._compiled if nm == names and e >= epochs and r >= n
             ]
    if longer:
      size, longer_epochs, longer_rows = min(longer)
      if self.budget.borrow(group, size - epochs * rows):
        return longer_epochs, longer_rows
    return epochs, rows

  def _logits(self, chunk: Sequence[tuple[Any, dict, int]], group: tuple) -> list[np.ndarray]:
    """Logits of each member of `chunk`, cropped to its length."""
    names = group[1]
    if not self._bucket_epochs:
      logits_BSK = self._model.logits({n: np.stack([x[n] for _, x, _ in chunk]) for n in names})
      return list(logits_BSK)
    epochs, num_rows = self._plan(group, len(chunk))
    rows = list(chunk) + [chunk[-1]] * (num_rows - len(chunk))
    padded = [_pad_night(x, names, s, epochs) for _, x, s in rows]
    start, compile_start = time.perf_counter(), compile_seconds()
    logits_BSK = self._model.logits({n: np.stack([p[n] for p in padded]) for n in names},
                                    valid_epochs=np.array([s for _, _, s in rows]))
    self.budget.observe(time.perf_counter() - start,
                        compile_seconds() - compile_start, epochs * num_rows)
    self._compiled.add((epochs, names, num_rows))
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

  def _run_one(self, member: tuple[Any, dict, int],
               group: tuple) -> tuple[Any, np.ndarray | Exception]:
    try:
      return member[0], self._logits([member], group)[0]
    except Exception as e:  # pylint: disable=broad-except  # Reported per night.
      return member[0], e
