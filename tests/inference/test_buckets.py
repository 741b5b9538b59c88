"""Length buckets: nights of different lengths share batches, with exact padding."""

from __future__ import annotations

import numpy as np
import pytest

from wav2sleep_jax.inference import batching
from wav2sleep_jax.inference import model as model_lib
from tests.model_testutil import random_params, random_signals, tiny_config

LENGTHS = (3, 8, 5, 7, 4, 6)  # One bucket of 8 epochs.


@pytest.fixture(scope='module')
def model():
  cfg = tiny_config(signals=('ECG', 'THX'))
  return model_lib.StagingModel(cfg, random_params(cfg, seed=0, scale=1.0))


def _probabilities(logits_SK):
  return model_lib.softmax(np.asarray(logits_SK, np.float64))


def test_bucket_arithmetic():
  assert [batching.bucket_length(s, 120) for s in (1, 120, 121, 959)] == [120, 120, 240, 960]
  assert batching.bucket_length(37, 0) == 37
  assert batching.hours_to_epochs(1.0) == 120 and batching.hours_to_epochs(0) == 0
  with pytest.raises(ValueError, match='shorter than one 30-s epoch'):
    batching.hours_to_epochs(0.001)
  with pytest.raises(ValueError, match='>= 0'):
    batching.hours_to_epochs(-1)
  assert [batching.batch_rows(n, 8) for n in (1, 2, 3, 5, 8)] == [1, 2, 4, 8, 8]
  assert batching.batch_rows(5, 6) == 6
  assert batching.batch_rows(3, 8, compiled=(8, 2)) == 8  # No new compilation.
  assert batching.batch_rows(2, 8, compiled=(8, 2)) == 2
  assert batching.batch_rows(1, 8, compiled=(4, 8)) == 4


def test_night_alone_equals_night_in_a_bucket(model):
  """Six lengths in one bucket: two compilations at most (4 + 2 rows), exact predictions."""
  nights = [{
      n: v[0] for n, v in random_signals(('ECG', 'THX'), 1, s, seed=i).items()
  } for i, s in enumerate(LENGTHS)]
  nights[2] = {'THX': nights[2]['THX']}  # Another signal set: its own group.
  before = model_lib.compilations()
  batcher = batching.Batcher(model, batch_size=4, bucket_epochs=8)
  done = []
  for i, (x, s) in enumerate(zip(nights, LENGTHS)):
    done += batcher.add(i, x, s)
  done = dict(done + batcher.flush())
  # ECG+THX: 5 nights -> 4, then 1 run in the 4 rows compiled; THX alone: 1 row.
  assert model_lib.compilations() - before <= 2
  for i, (x, s) in enumerate(zip(nights, LENGTHS)):
    assert done[i].shape == (s, model.config.num_classes)
    alone = model.logits({n: v[None] for n, v in x.items()})[0]
    np.testing.assert_allclose(
        _probabilities(done[i]),
        _probabilities(alone),
        atol=1e-5,
        err_msg=f'night {i} ({s} epochs)')


def test_bad_night_in_a_bucket_is_reported_alone(model):
  """A failing padded batch is retried night by night, still padded and exact."""
  good = {n: v[0] for n, v in random_signals(('ECG', 'THX'), 1, 5, seed=1).items()}
  bad = {'ECG': np.zeros(3 * 1024, np.float32), 'THX': np.zeros(4 * 256, np.float32)}
  batcher = batching.Batcher(model, batch_size=2, bucket_epochs=8)
  done = dict(batcher.add('good', good, 5) + batcher.add('bad', bad, 4) + batcher.flush())
  assert isinstance(done['bad'], ValueError)  # ECG covers 3 epochs, not 4.
  assert 'expected 4 epochs' in str(done['bad'])
  alone = model.logits({n: v[None] for n, v in good.items()})[0]
  np.testing.assert_allclose(_probabilities(done['good']), _probabilities(alone), atol=1e-5)


def test_compile_budget_is_ski_rental():
  budget = batching.CompileBudget()
  assert not budget.borrow('a', 1)  # Nothing measured yet: compile.
  budget.observe(seconds=10.0, compile_s=9.0, row_epochs=100)  # 9 s compile, 0.01 s/row-epoch.
  assert budget.borrow('a', 500)  # 5 s of padding < one 9-s compilation.
  assert not budget.borrow('a', 500)  # 10 s paid in all: compile now.
  assert budget.borrow('b', 800) and not budget.borrow('b', 200)  # Per group.
  budget.observe(seconds=0.1, compile_s=0.0, row_epochs=100)  # Running is cheaper than thought.
  assert budget.borrow('c', 1600)  # 1600 * 0.0055 = 8.8 s < 9 s.


def test_short_bucket_reuses_a_compiled_longer_one(model):
  """Flushed longest first, a 6-epoch bucket runs in the 12-epoch executable, exactly."""
  lengths = (5, 11, 4, 12)  # Buckets of 6 and 12 epochs, two nights each.
  nights = [{
      n: v[0] for n, v in random_signals(('ECG', 'THX'), 1, s, seed=10 + i).items()
  } for i, s in enumerate(lengths)]
  before = model_lib.compilations()
  batcher = batching.Batcher(model, batch_size=4, bucket_epochs=6)
  done = []
  for i, (x, s) in enumerate(zip(nights, lengths)):
    done += batcher.add(i, x, s)
  assert not done
  done = dict(batcher.flush())
  # A tiny model compiles in far longer than 12 padded epochs take to run.
  assert model_lib.compilations() - before == 1
  for i, (x, s) in enumerate(zip(nights, lengths)):
    alone = model.logits({n: v[None] for n, v in x.items()})[0]
    np.testing.assert_allclose(
        _probabilities(done[i]),
        _probabilities(alone),
        atol=1e-5,
        err_msg=f'night {i} ({s} epochs)')
