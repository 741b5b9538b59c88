"""Guards of a training workdir: one trainer at a time, no silent config change.

- `WorkdirLock`: WORKDIR/train.lock (JSON: pid, host, start time) created with
  O_EXCL and held with `flock` while the run lasts; removed on exit, also after
  an exception or SIGTERM. A lock left by a dead process on this host is taken
  over with a warning; a live holder (or one on another host) is refused.
- `check_config`: compares a new config with the stored WORKDIR/config.json
  before anything is written; fields that change the model, the shapes, the
  data or the optimisation are refused unless explicitly overridden.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import pathlib
import signal
import socket
import threading
import time
from typing import Any, Iterator, Mapping

from absl import logging
import ml_collections

from wav2sleep_jax.core import run_dir as run_dir_lib

# Config fields that a resumed run may change: they do not touch the weights,
# the optimiser state, the training data or validation (which picks `best/`).
RESUMABLE_FIELDS = frozenset({
    'max_steps', 'eval_every_steps', 'log_every_steps', 'patience', 'keep_checkpoints',
    'worker_count', 'data_dir', 'eval_batch_size', 'eval_subsets', 'test_datasets', 'model.remat',
    'model.encoder_impl'
})
# Run-config fields added since runs were first stored, with what their absence meant.
ADDED_FIELDS = {'eval_max_epochs': 0}
ON_CONFIG_CHANGE = ('refuse', 'accept', 'new_run')
_UNREADABLE_GRACE_S = 10.0  # A new holder writes its JSON within this time.


class WorkdirLockedError(RuntimeError):
  """Another trainer holds the workdir."""


class ConfigChangedError(ValueError):
  """The new config differs from the stored one in fields a resume cannot change."""


# ----------------------------------------------------------------------------
# Workdir lock
# ----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # Exists, owned by another user.
  return True


def _holder_text(holder: Mapping[str, Any]) -> str:
  return (f'pid {holder.get("pid")} on host {holder.get("host")}, started '
          f'{holder.get("started")}')


def _read_holder(path: pathlib.Path) -> dict[str, Any]:
  try:
    holder = json.loads(path.read_text())
  except (OSError, ValueError):
    return {}
  return holder if isinstance(holder, dict) else {}


def _same_file(fd: int, path: pathlib.Path) -> bool:
  try:
    return os.fstat(fd).st_ino == path.stat().st_ino
  except FileNotFoundError:
    return False


class WorkdirLock:
  """Exclusive lock of a training workdir (see module docstring)."""

  def __init__(self, workdir: str | os.PathLike[str]):
    self.path = run_dir_lib.RunDir(workdir).lock_file
    self._fd: int | None = None
    self._previous_sigterm = None

  def acquire(self) -> None:
    for _ in range(5):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)  # A contender's probe holds it only briefly.
      except FileExistsError:
        fd = self._take_over_if_stale()
        if fd is None:
          continue  # Released meanwhile: try again.
      os.ftruncate(fd, 0)
      os.pwrite(
          fd,
          json.dumps({
              'pid': os.getpid(),
              'host': socket.gethostname(),
              'started': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
          }).encode(), 0)
      os.fsync(fd)
      self._fd = fd
      self._catch_sigterm()
      return
    raise WorkdirLockedError(f'Could not lock {self.path} (it keeps reappearing).')

  def _take_over_if_stale(self) -> int | None:
    """The flocked fd of a lock whose holder died on this host; raises if held."""
    try:
      fd = os.open(self.path, os.O_RDWR)
    except FileNotFoundError:
      return None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # Fails while the holder lives.
      if not _same_file(fd, self.path):
        os.close(fd)
        return None
      holder = _read_holder(self.path)
      if holder:
        dead = (
            holder.get('host') == socket.gethostname() and isinstance(holder.get('pid'), int)
            and not _pid_alive(holder['pid']))
      else:  # Empty or garbled: a holder that died while writing it?
        dead = time.time() - os.fstat(fd).st_mtime > _UNREADABLE_GRACE_S
    except OSError:
      holder, dead = _read_holder(self.path), False
    if not dead:
      os.close(fd)
      raise WorkdirLockedError(
          f'{self.path.parent} is in use by another trainer ({_holder_text(holder)}); '
          f'wait for it to finish, or, if it is no longer running, delete {self.path}.')
    logging.warning('Taking over the stale lock %s of a process that is no longer running '
                    '(%s).', self.path, _holder_text(holder))
    return fd

  def _catch_sigterm(self) -> None:
    """SIGTERM while locked (outside the training loop) exits via SystemExit."""
    if threading.current_thread() is threading.main_thread():

      def handler(signum, frame):
        del frame
        raise SystemExit(128 + signum)

      self._previous_sigterm = signal.signal(signal.SIGTERM, handler)

  def release(self) -> None:
    if self._fd is None:
      return
    if self._previous_sigterm is not None:
      signal.signal(signal.SIGTERM, self._previous_sigterm)
      self._previous_sigterm = None
    if _read_holder(self.path).get('pid') == os.getpid():
      with contextlib.suppress(FileNotFoundError):
        self.path.unlink()
    os.close(self._fd)
    self._fd = None

  def __enter__(self) -> WorkdirLock:
    self.acquire()
    return self

  def __exit__(self, *exc) -> None:
    self.release()


# ----------------------------------------------------------------------------
# Config comparison
# ----------------------------------------------------------------------------


def _flatten(tree: Any, prefix: str = '') -> dict[str, Any]:
  if isinstance(tree, Mapping):
    out = {}
    for key, value in tree.items():
      out.update(_flatten(value, f'{prefix}{key}.'))
    return out
  return {prefix[:-1]: tree}


def config_record(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config as stored in WORKDIR/config.json (JSON types)."""
  return json.loads(config.to_json_best_effort(sort_keys=True))


def _model_defaults() -> dict[str, Any]:
  """{'model.<field>': ModelConfig default} as config.json stores it."""
  from wav2sleep_jax.configs import common  # pylint: disable=g-import-not-at-top
  model = ml_collections.ConfigDict({'model': common.model_config()})
  return _flatten(config_record(model))


def config_differences(stored: Mapping[str, Any], new: Mapping[str,
                                                               Any]) -> dict[str, tuple[Any, Any]]:
  """{field: (stored, new)} of fields a resume cannot change ('<absent>' if missing)."""
  old_flat, new_flat = _flatten(stored), _flatten(new)
  for key, value in {**_model_defaults(), **ADDED_FIELDS}.items():  # Added since: defaults.
    old_flat.setdefault(key, value)
  out = {}
  for key in sorted(set(old_flat) | set(new_flat)):
    old, value = old_flat.get(key, '<absent>'), new_flat.get(key, '<absent>')
    if old != value and key not in RESUMABLE_FIELDS:
      out[key] = (old, value)
  return out


def read_stored_config(workdir: pathlib.Path) -> dict[str, Any] | None:
  path = run_dir_lib.RunDir(workdir).config_file
  if not path.is_file():
    return None
  try:
    stored = json.loads(path.read_text())
  except ValueError as e:
    raise ConfigChangedError(f'{path} is not valid JSON ({e}); move it away to start a new '
                             'run in this workdir.') from e
  if not isinstance(stored, dict):
    raise ConfigChangedError(f'{path} does not hold a config object.')
  return stored


def check_config(config: ml_collections.ConfigDict,
                 workdir: pathlib.Path,
                 has_run: bool,
                 on_change: str = 'refuse') -> bool:
  """Compares `config` with WORKDIR/config.json; returns True to start afresh.

  Args:
    config: the new run's config.
    workdir: the run's folder.
    has_run: the workdir holds checkpoints (something to resume).
    on_change: 'refuse' (raise ConfigChangedError listing the fields), 'accept'
      (resume anyway, at your own risk) or 'new_run' (the caller moves the old
      run aside and starts afresh).
  """
  if on_change not in ON_CONFIG_CHANGE:
    raise ValueError(f'on_config_change must be one of {ON_CONFIG_CHANGE}, got {on_change!r}.')
  stored = read_stored_config(workdir)
  if stored is None or not has_run:
    return False
  diff = config_differences(stored, config_record(config))
  if not diff:
    return False
  listing = '; '.join(f'{k}: {old!r} -> {new!r}' for k, (old, new) in diff.items())
  if on_change == 'accept':
    logging.warning('Resuming %s with a changed config (--on_config_change=accept): %s', workdir,
                    listing)
    return False
  if on_change == 'new_run':
    logging.warning(
        'Config changed (%s): the previous run is moved aside and a new run '
        'starts in %s.', listing, workdir)
    return True
  raise ConfigChangedError(
      f'The config differs from the run in {workdir} '
      f'({run_dir_lib.RunDir(workdir).config_file}) in '
      f'{len(diff)} field(s) a resume cannot change: {listing}. Use another --workdir, or '
      '--on_config_change=new_run (moves the old run aside) or =accept (resume anyway).')


def move_run_aside(workdir: pathlib.Path) -> pathlib.Path:
  """Moves the run's outputs into WORKDIR/previous/<timestamp>/ (data stays)."""
  run = run_dir_lib.RunDir(workdir)
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
  target = run.previous / stamp
  target.mkdir(parents=True, exist_ok=False)
  for name in run_dir_lib.RUN_OUTPUTS:
    if (run.path / name).exists():
      os.replace(run.path / name, target / name)
  logging.warning('Moved the previous run of %s to %s.', workdir, target)
  return target


@contextlib.contextmanager
def locked(workdir: pathlib.Path, process_index: int, process_count: int) -> Iterator[None]:
  """Process 0 holds the workdir lock; all processes learn if it was refused."""
  lock = WorkdirLock(workdir) if process_index == 0 else None
  error = None
  if lock is not None:
    try:
      lock.acquire()
    except WorkdirLockedError as e:
      error = e
  if process_count > 1:
    import numpy as np
    from jax.experimental import multihost_utils
    refused = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
    if int(refused) and error is None:
      error = WorkdirLockedError(f'{workdir} is in use by another trainer (see the log of '
                                 'process 0).')
  if error is not None:
    raise error
  try:
    yield
  finally:
    if lock is not None:
      lock.release()
