"""Restore with fallback: a checkpoint that cannot be restored is moved aside.

The newest step is tried first, with Orbax's public restore into the abstract
target (`CheckpointManager.restore`): whatever it raises (a truncated or garbled
array, invalid metadata) is logged on one line and older steps are tried.
Steps that failed are moved (never deleted) to
WORKDIR/corrupt/<folder>-<step>-<timestamp>/ only once an older step restored
(so a config mismatch, which fails every step, moves nothing). If no step
restores, `NoRestorableCheckpointError` names the folder and each reason.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import io
import logging as std_logging
import os
import pathlib
import sys
import time
from typing import Callable, Iterator, TypeVar
import warnings

from absl import logging
import jax
import numpy as np

from wav2sleep_jax.core import run_dir as run_dir_lib

T = TypeVar('T')


class NoRestorableCheckpointError(RuntimeError):
  """Every checkpoint of a folder failed to restore."""


def one_line(error: BaseException, limit: int = 240) -> str:
  """`Type: first line of the message` of the root cause, shortened."""
  while error.__cause__ is not None:  # Orbax wraps TensorStore's precise reason.
    error = error.__cause__
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  text = f'{type(error).__name__}: {lines[0] if lines else ""}'.rstrip(': ')
  return text if len(text) <= limit else text[:limit - 3] + '...'


def _all_processes_ok(ok: bool) -> bool:
  if jax.process_count() == 1:
    return ok
  from jax.experimental import multihost_utils
  return bool(multihost_utils.process_allgather(np.array(ok)).all())


def sync(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


class _AbandonedReadsFilter(std_logging.Filter):
  """Drops asyncio's 'exception was never retrieved' reports of TensorStore reads."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    message = record.getMessage()
    return not ('exception was never retrieved' in message and 'tensorstore' in message)


_ABANDONED_READS = _AbandonedReadsFilter()


class _CountingSink(io.TextIOBase):
  """A stderr stand-in that discards what is written and counts the writes."""

  def __init__(self):
    super().__init__()
    self.writes = 0

  def write(self, text: str) -> int:
    self.writes += 1
    return len(text)


def _wait_until_quiet(sink: _CountingSink, quiet_s: float = 0.25, limit_s: float = 10.0) -> None:
  """Waits until nothing was written to `sink` for `quiet_s` (at most `limit_s`)."""
  deadline = time.monotonic() + limit_s
  while time.monotonic() < deadline:
    before = sink.writes
    time.sleep(quiet_s)
    gc.collect()  # Collects the failed reads' futures while their reports are muted.
    if sink.writes == before:
      return


@contextlib.contextmanager
def _muted(sink: _CountingSink) -> Iterator[None]:
  """Sends stderr to `sink`; drops reports of reads that finish after their loop closed."""
  previous = sys.unraisablehook

  def hook(unraisable) -> None:
    if (isinstance(unraisable.exc_value, RuntimeError)
        and 'Event loop is closed' in str(unraisable.exc_value)):
      sink.writes += 1  # A read settled: `_wait_until_quiet` waits on.
    else:
      previous(unraisable)

  sys.unraisablehook = hook
  try:
    with warnings.catch_warnings(), contextlib.redirect_stderr(sink):
      warnings.simplefilter('ignore', RuntimeWarning)
      yield
  finally:
    sys.unraisablehook = previous


def _try_restore(restore: Callable[[int], T], step: int) -> tuple[T | None, str | None]:
  """(restored, None), or (None, one-line reason) with the per-array reports muted.

  Orbax's restore raises on the first failed read of a corrupt step; its other,
  abandoned reads finish later and each report a traceback (thousands of lines
  for a model state) on stderr and through the `asyncio` logger. Those reports
  are muted until the reads have settled.
  """
  std_logging.getLogger('asyncio').addFilter(_ABANDONED_READS)  # Idempotent.
  sink = _CountingSink()
  with _muted(sink):
    try:
      return restore(step), None
    except Exception as e:  # pylint: disable=broad-except  # Reported by the caller.
      error = one_line(e)
    _wait_until_quiet(sink)
  return None, error


def move_aside(folder: pathlib.Path,
               step: int,
               reason: str,
               kind: str = 'corrupt') -> pathlib.Path | None:
  """Moves FOLDER/<step> to WORKDIR/corrupt/ with a REASON.txt (process 0 only)."""
  if jax.process_index() != 0:
    return None
  source = folder / str(step)
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
  target = folder.parent / run_dir_lib.CORRUPT_DIR / f'{folder.name}-{step}-{kind}-{stamp}'
  target.parent.mkdir(parents=True, exist_ok=True)
  os.replace(source, target)
  (target / 'REASON.txt').write_text(reason + '\n')
  logging.warning('Moved %s checkpoint %s to %s.', kind, source, target)
  return target


def restore_newest(manager,
                   restore: Callable[[int], T],
                   folder: pathlib.Path,
                   move_if_none: bool = False) -> tuple[int, T] | None:
  """(step, restored) of the newest step that restores; None if there are none.

  Args:
    manager: an orbax CheckpointManager over `folder` (reloaded after moves).
    restore: restores one step (may raise anything on a corrupt checkpoint).
    folder: the manager's directory, for messages and moving aside.
    move_if_none: also move the failed steps aside when none restores (for
      `best/`, whose failure must not stop the run).
  Raises:
    NoRestorableCheckpointError: steps exist but none restores.
  """
  failed: list[tuple[int, str]] = []
  result = None
  for step in sorted(manager.all_steps(), reverse=True):
    value, error = _try_restore(restore, step)
    if not _all_processes_ok(error is None):
      error = error or 'failed to restore on another process'
      logging.warning('Checkpoint step %d in %s cannot be restored: %s', step, folder, error)
      failed.append((step, error))
      continue
    result = (step, value)
    break
  if failed and (result is not None or move_if_none):
    for step, reason in failed:
      move_aside(folder, step, f'step {step} could not be restored: {reason}')
    sync(f'moved_aside_{folder.name}')
    manager.reload()
  if result is None and failed and not move_if_none:
    reasons = '; '.join(f'step {s}: {r}' for s, r in failed)
    raise NoRestorableCheckpointError(
        f'No checkpoint in {folder} can be restored ({reasons}). Nothing was moved or '
        'deleted; move the folder away to start afresh.')
  if failed and result is not None:
    logging.warning('Resuming from step %d of %s instead of the corrupt step(s) %s.', result[0],
                    folder, ', '.join(str(s) for s, _ in failed))
  return result
