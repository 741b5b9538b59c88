"""Input pipeline: training batches, bounded read-ahead, evaluation padding, sources,
causal normalisation."""

import threading

import jax
import numpy as np
import pytest

from tests.model_testutil import random_params, tiny_config
from wav2sleep_jax.data import normalize as normalize_lib
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.models import io as model_io


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
    return {
        'labels': np.full(4, 2, np.int8),
        'signals': {
            'ECG':
                np.full(4 * 1024, float(index), np.float32) +
                np.random.default_rng(index).normal(size=4 * 1024).astype(np.float32)
        },
        'present': {
            'ECG': True
        }
    }


def test_train_batches_are_normalised_windows_and_read_ahead_is_bounded():
  source = _CountingSource(400)
  spec = pipeline.NightSpec(signals=('ECG', 'THX'), num_epochs=2)
  iterator = iter(
      pipeline.train_dataset(
          source, spec, batch_size=2, seed=0, read_threads=2, prefetch_batches=2))
  batch = next(iterator)
  assert batch['signals']['ECG'].shape == (2, 2 * 1024)
  assert batch['signals']['THX'].shape == (2, 2 * 256)
  assert batch['present'].tolist() == [[True, False]] * 2
  assert batch['labels'].tolist() == [[1, 1]] * 2  # N2 -> Light.
  # Each night is z-scored over the whole stored night, so the offset is gone.
  assert np.abs(batch['signals']['ECG'].mean()) < 0.2
  # No sleeping: the bound holds after every batch taken. Taken batches, at most 2
  # prefetched and 2 in the threads' hands (Grain's default read-ahead would read
  # hundreds of nights while 60 batches are consumed).
  for taken in range(2, 60):
    next(iterator)
    assert taken * 2 <= source.reads <= (taken + 4) * 2, (taken, source.reads)


class _Nights:
  """`n` stored nights of 3 epochs; night i has ECG value i and labels (i % 5)."""

  def __init__(self, n: int, first: int = 0):
    self.n, self.first = n, first

  def __len__(self):
    return self.n

  def __getitem__(self, index):
    if not 0 <= index < self.n:
      raise IndexError(index)
    i = self.first + index
    return {
        'labels': np.full(3, i % 5, np.int8),
        'record_id': f'r{i}',
        'signals': {
            'ECG': np.full(3 * 1024, float(i), np.float32)
        },
        'present': {
            'ECG': True
        }
    }


def test_concat_source_indexes_across_parts_and_refuses_out_of_range():
  source = pipeline.ConcatSource([_Nights(2), _Nights(0, first=100), _Nights(3, first=10)])
  assert len(source) == 5
  assert pipeline.record_ids(source) == ['r0', 'r1', 'r10', 'r11', 'r12']
  for bad in (-1, 5):
    with pytest.raises(IndexError):
      source[bad]


@pytest.mark.parametrize('process_count', [1, 2])
def test_eval_batches_pad_the_last_batch_and_keep_every_night_once(process_count):
  spec = pipeline.NightSpec(signals=('ECG',), num_epochs=4, num_classes=5)
  source = _Nights(5)
  per_process = [
      list(pipeline.eval_batches(source, spec, 2, p, process_count)) for p in range(process_count)
  ]
  assert len({len(b) for b in per_process}) == 1  # Same number of batches everywhere.
  seen = []
  for batches in per_process:
    for batch in batches:
      assert batch['signals']['ECG'].shape == (2, 4 * 1024)
      for b in range(2):
        if batch['is_night'][b]:
          seen.append(int(batch['labels'][b, 0]))
          assert batch['labels'][b].tolist()[3] == -1  # Night of 3 epochs, window of 4.
        else:
          assert not batch['present'][b].any() and (batch['labels'][b] == -1).all()
          assert not batch['signals']['ECG'][b].any()
  assert sorted(seen) == [0, 1, 2, 3, 4]


def test_padded_nights_never_count_in_the_eval_step():
  cfg = tiny_config(signals=('ECG',), num_classes=5)
  spec = pipeline.NightSpec(signals=('ECG',), num_epochs=4, num_classes=5)
  batch = next(pipeline.eval_batches(_Nights(1), spec, 3))
  assert batch['is_night'].tolist() == [True, False, False]
  # Give the padding nights labels and signals: the step must still ignore them.
  batch['labels'][1:] = 2
  batch['present'][1:] = True
  step = evaluator.make_eval_step(model_io.graphdef(cfg), cfg.num_classes)
  out = jax.device_get(step(random_params(cfg), batch, np.ones(1, bool), False))
  assert int(out['nights']) == 1
  assert int(out['count']) == 3 == int(np.asarray(out['cm']).sum())
  assert out['night_ok'].tolist() == [True, False, False]
  assert np.asarray(out['night_cm'])[1:].sum() == 0


def test_causal_normalisation_of_a_window_uses_the_past_only():
  spec = pipeline.NightSpec(
      signals=('THX',), num_epochs=2, num_classes=5, causal_normalization=True)
  rng = np.random.default_rng(0)
  thx = (5.0 + rng.normal(size=6 * 256)).astype(np.float32)
  night = {'labels': np.zeros(6, np.int8), 'signals': {'THX': thx}, 'present': {'THX': True}}
  changed = dict(night, signals={'THX': thx.copy()})
  changed['signals']['THX'][4 * 256:] += 100.0  # Only epochs 4 and 5 change.
  window = pipeline.prepare_night(night, spec, start_epoch=2)['signals']['THX']
  np.testing.assert_array_equal(
      window,
      pipeline.prepare_night(changed, spec, start_epoch=2)['signals']['THX'])
  # The window is the night normalised as a whole, then cut: not restarted at the window.
  full = normalize_lib.causal_normalize(thx, 256 / 30)
  np.testing.assert_allclose(window, full[2 * 256:4 * 256], rtol=1e-6)
  # A z-scored (non-causal) window does see the future.
  zspec = pipeline.NightSpec(signals=('THX',), num_epochs=2, num_classes=5)
  assert not np.array_equal(
      pipeline.prepare_night(night, zspec, 2)['signals']['THX'],
      pipeline.prepare_night(changed, zspec, 2)['signals']['THX'])
