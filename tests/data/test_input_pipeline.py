"""Training input pipeline: batch contents and bounded read-ahead."""

import threading
import time

import numpy as np

from wav2sleep_jax.data import pipeline


class _CountingSource:
  """Random-access nights of 4 epochs of ECG (values = night index), counting reads."""

  def __init__(self, num_nights: int):
    self.num_nights = num_nights
    self.reads = 0
    self._lock = threading.Lock()

  def __len__(self):
    return self.num_nights

  def __getitem__(self, index):
    with self._lock:
      self.reads += 1
    return {'labels': np.full(4, 2, np.int8),
            'signals': {'ECG': np.full(4 * 1024, float(index), np.float32)
                        + np.random.default_rng(index).normal(size=4 * 1024).astype(np.float32)},
            'present': {'ECG': True}}


def test_train_batches_are_normalised_windows_and_read_ahead_is_bounded():
  source = _CountingSource(200)
  spec = pipeline.NightSpec(signals=('ECG', 'THX'), num_epochs=2)
  iterator = iter(pipeline.train_dataset(source, spec, batch_size=2, seed=0,
                                         read_threads=2, prefetch_batches=2))
  batch = next(iterator)
  assert batch['signals']['ECG'].shape == (2, 2 * 1024)
  assert batch['signals']['THX'].shape == (2, 2 * 256)
  assert batch['present'].tolist() == [[True, False]] * 2
  assert batch['labels'].tolist() == [[1, 1]] * 2  # N2 -> Light.
  # Each night is z-scored over the whole stored night, so the offset is gone.
  assert np.abs(batch['signals']['ECG'].mean()) < 0.2
  time.sleep(1.0)  # Let the prefetch threads run as far as they may.
  # One batch taken, at most 2 prefetched plus 2 in the threads' hands: <= 5 batches
  # read (Grain's default read-ahead would have read hundreds of nights).
  assert source.reads <= 5 * 2, source.reads
