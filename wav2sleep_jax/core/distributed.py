"""Data-parallel sharding: a 1-D 'data' mesh over every device of every host.

Parameters and optimizer state are replicated; batches are split on their
leading (nights) axis. The same code runs on 1 CPU, 8 fake CPU devices, a GPU
or a TPU pod slice. Also the one multi-process start-up of the commands
(define_flags / initialize_from_flags) and DevicePrefetch, which copies the next
batch to the devices while a step runs.
"""

from __future__ import annotations

import collections
import json
from typing import Any, Iterator

from absl import flags
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P


def make_mesh() -> jax.sharding.Mesh:
  return jax.make_mesh((jax.device_count(),), ('data',), axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P('data'))


def global_batch(local_batch: Any, mesh: jax.sharding.Mesh) -> Any:
  """Assemble per-process numpy batches into global arrays sharded on 'data'."""
  sharding = batch_sharded(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
                      local_batch)


def check_batch_size(global_batch_size: int) -> int:
  """Nights per process; the global batch must split evenly over devices."""
  devices, processes = jax.device_count(), jax.process_count()
  if global_batch_size % devices:
    raise ValueError(f'Batch size {global_batch_size} is not divisible by the '
                     f'{devices} devices of the mesh.')
  return global_batch_size // processes


# ----------------------------------------------------------------------------
# Start-up (every multi-process command) and device prefetch
# ----------------------------------------------------------------------------


def define_flags() -> None:
  """--distributed and its options; the same for every command that takes them."""
  if 'distributed' in flags.FLAGS:  # Already defined by another command module.
    return
  flags.DEFINE_bool(
      'distributed', False, 'Call jax.distributed.initialize() (auto-detected on Cloud TPU '
      'pod slices and SLURM; otherwise pass --coordinator_address etc.).')
  flags.DEFINE_string('coordinator_address', None, 'host:port of process 0 for multi-process runs.')
  flags.DEFINE_integer('num_processes', None, 'Processes (multi-host).', lower_bound=1)
  flags.DEFINE_integer('process_id', None, 'Index of this process.', lower_bound=0)


def initialize_from_flags() -> bool:
  """jax.distributed.initialize() if --distributed or --coordinator_address; True if so."""
  fl = flags.FLAGS
  if not (fl.distributed or fl.coordinator_address):
    return False
  jax.distributed.initialize(
      coordinator_address=fl.coordinator_address,
      num_processes=fl.num_processes,
      process_id=fl.process_id)
  return True


class DevicePrefetch:
  """Global device batches from an iterator of per-process batches, `size` on device.

  Each next() first tops the queue up to `size` transfers (the batch handed out
  and the next ones), so the next batch is copied while the current step runs.
  get_state() is the source's state after the last batch handed out, not after
  those in flight: a checkpoint of it resumes at the first batch not trained on.
  """

  def __init__(self, source: Iterator[Any], mesh: jax.sharding.Mesh, size: int = 2):
    self._source, self._mesh, self._size = source, mesh, size
    self._queue = collections.deque()
    self._has_state = hasattr(source, 'get_state')
    self._state = source.get_state() if self._has_state else None
    self._exhausted = False

  def __iter__(self):
    return self

  def __next__(self) -> Any:
    while not self._exhausted and len(self._queue) < self._size:
      try:
        local = next(self._source)
      except StopIteration:
        self._exhausted = True
        break
      state = self._source.get_state() if self._has_state else None
      self._queue.append((global_batch(local, self._mesh), state))
    if not self._queue:
      raise StopIteration
    batch, self._state = self._queue.popleft()
    return batch

  def get_state(self) -> bytes:
    """The source's state (JSON) as of the last batch handed out, for Grain checkpoints."""
    if not self._has_state:
      raise TypeError(f'{type(self._source).__name__} has no get_state().')
    return json.dumps(self._state).encode()
