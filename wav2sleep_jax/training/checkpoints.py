"""Restore with fallback: a checkpoint that cannot be restored is moved aside.

The newest step is tried first; if it fails, the reason is logged and older
steps are tried. Steps that failed are moved (never deleted) to
WORKDIR/corrupt/<folder>-<step>-<timestamp>/ only once an older step restored
(so a config mismatch, which fails every step, moves nothing). If no step
restores, `NoRestorableCheckpointError` names the folder and each reason.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import logging as std_logging
import os
import pathlib
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


_JSON_FILES = ('_CHECKPOINT_METADATA', 'metadata', '_METADATA', '_sharding')


def verify_step(step_dir: pathlib.Path) -> None:
  """Reads every JSON file and array of a step synchronously; raises if one is corrupt.

  Orbax reports a corrupt array only after thousands of lines of tracebacks from
  its other, abandoned reads; this check fails first, on one clear line.
  """
  import tensorstore as ts
  for path in sorted(p for p in step_dir.rglob('*') if p.is_file()):
    if (path.name in _JSON_FILES or path.suffix == '.json'
        or path.parent.name == 'array_metadatas'):
      try:
        json.loads(path.read_bytes())
      except ValueError as e:
        raise ValueError(f'{path.relative_to(step_dir)} is not valid JSON ({e})') from None
  for item in sorted(p.parent for p in step_dir.glob('*/manifest.ocdbt')):
    kvstore = {'driver': 'ocdbt', 'base': f'file://{item}/'}
    keys = [k.decode() for k in ts.KvStore.open(kvstore).result().list().result()]
    for key in keys:
      for meta, driver in (('/.zarray', 'zarr'), ('/zarr.json', 'zarr3')):
        if key.endswith(meta):
          spec = {'driver': driver, 'kvstore': {**kvstore, 'path': key[:-len(meta)] + '/'}}
          ts.open(spec, open=True).result().read().result()


@contextlib.contextmanager
def _quiet_async_failures() -> Iterator[None]:
  """Drops the per-array tracebacks that a failed restore's unawaited tasks print."""
  asyncio_logger = std_logging.getLogger('asyncio')
  level = asyncio_logger.level
  asyncio_logger.setLevel(std_logging.CRITICAL)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', RuntimeWarning)
      try:
        yield
      finally:
        gc.collect()  # Collects the failed tasks while their reports are muted.
  finally:
    asyncio_logger.setLevel(level)


def move_aside(folder: pathlib.Path, step: int, reason: str, kind: str = 'corrupt'
               ) -> pathlib.Path | None:
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


def restore_newest(manager, restore: Callable[[int], T], folder: pathlib.Path,
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
    with _quiet_async_failures():
      try:
        verify_step(pathlib.Path(folder) / str(step))
        value, error = restore(step), None
      except Exception as e:  # pylint: disable=broad-except  # Logged, then the next.
        value, error = None, one_line(e)
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
    logging.warning('Resuming from step %d of %s instead of the corrupt step(s) %s.',
                    result[0], folder, ', '.join(str(s) for s, _ in failed))
  return result
