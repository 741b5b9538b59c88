"""Multi-process start-up flags and the device prefetch iterator."""

from __future__ import annotations

import json

from absl import flags
from absl.testing import flagsaver
import jax
import numpy as np
import pytest

from wav2sleep_jax.core import distributed


class _Counting:
  """Batches 0, 1, ... n-1 (a vector of that value); state = index of the next batch."""

  def __init__(self, n: int, start: int = 0):
    self.n, self.next_index = n, start

  def __iter__(self):
    return self

  def __next__(self):
    if self.next_index >= self.n:
      raise StopIteration
    self.next_index += 1
    return {'x': np.full(jax.device_count(), self.next_index - 1, np.float32)}

  def get_state(self):
    return {'next_index': self.next_index}


def test_prefetch_yields_the_same_batches_in_order_as_device_arrays():
  mesh = distributed.make_mesh()
  got = [np.asarray(b['x'])[0] for b in distributed.DevicePrefetch(_Counting(5), mesh)]
  assert got == [0, 1, 2, 3, 4]
  batch = next(distributed.DevicePrefetch(_Counting(1), mesh))
  assert isinstance(batch['x'], jax.Array)
  assert batch['x'].sharding.is_equivalent_to(distributed.batch_sharded(mesh), 1)


def test_prefetch_state_resumes_at_the_first_batch_not_handed_out():
  mesh = distributed.make_mesh()
  source = _Counting(10)
  batches = distributed.DevicePrefetch(source, mesh, size=2)
  for _ in range(3):
    next(batches)
  assert source.next_index == 4  # One batch ahead on the device.
  state = json.loads(batches.get_state())
  assert state == {'next_index': 3}
  resumed = distributed.DevicePrefetch(_Counting(10, **{'start': state['next_index']}), mesh)
  assert np.asarray(next(resumed)['x'])[0] == 3


def test_prefetch_without_source_state_refuses_get_state():
  batches = distributed.DevicePrefetch(
      iter([{
          'x': np.zeros(jax.device_count())
      }]), distributed.make_mesh())
  next(batches)
  with pytest.raises(TypeError, match='no get_state'):
    batches.get_state()


def test_distributed_flags_start_jax_distributed(monkeypatch):
  distributed.define_flags()
  distributed.define_flags()  # A second command module in the process: no duplicate flags.
  calls = []
  monkeypatch.setattr(jax.distributed, 'initialize', lambda **kw: calls.append(kw))
  with flagsaver.flagsaver():
    flags.FLAGS(['prog'])
    assert not distributed.initialize_from_flags()
    flags.FLAGS(['prog', '--distributed'])  # Auto-detected cluster (TPU pod, SLURM).
    assert distributed.initialize_from_flags()
    flags.FLAGS([
        'prog', '--nodistributed', '--coordinator_address=host:1234', '--num_processes=2',
        '--process_id=1'
    ])
    assert distributed.initialize_from_flags()
  assert calls[0] == {'coordinator_address': None, 'num_processes': None, 'process_id': None}
  assert calls[1:] == [{'coordinator_address': 'host:1234', 'num_processes': 2, 'process_id': 1}]
