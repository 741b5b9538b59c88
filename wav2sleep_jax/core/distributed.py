"""Data-parallel sharding: a 1-D 'data' mesh over every device of every host.

Parameters and optimizer state are replicated; batches are split on their
leading (nights) axis. The same code runs on 1 CPU, 8 fake CPU devices, a GPU
or a TPU pod slice.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P


def make_mesh() -> jax.sharding.Mesh:
  return jax.make_mesh((jax.device_count(),), ('data',),
                       axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P('data'))


def global_batch(local_batch: Any, mesh: jax.sharding.Mesh) -> Any:
  """Assemble per-process numpy batches into global arrays sharded on 'data'."""
  sharding = batch_sharded(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch)


def check_batch_size(global_batch_size: int) -> int:
  """Nights per process; the global batch must split evenly over devices."""
  devices, processes = jax.device_count(), jax.process_count()
  if global_batch_size % devices:
    raise ValueError(f'Batch size {global_batch_size} is not divisible by the '
                     f'{devices} devices of the mesh.')
  return global_batch_size // processes
