"""Training options no shipped config uses: grad_accum_steps, ema_decay, mixture_weights."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.model_testutil import random_signals
from tests.train_testutil import tiny_train_config
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.training import step as step_lib
from wav2sleep_jax.training import trainer

_SIGNALS = ('THX',)
_EPOCHS = 4


def _deterministic_config(**overrides):
  """Tiny model, no masking, flips, dropout or warm-up: a step depends on the batch only."""
  config = tiny_train_config(polarity_flip_prob=0.0, warmup_steps=0, **overrides)
  config.mask_probs = {}
  config.model.update(
      signals=_SIGNALS,
      dropout=0.0,
      remat=False,
      mixer_layers=1,
      sequence_blocks=1,
      sequence_dilations=(1,))
  return config


def _batch(seed: int, size: int) -> dict:
  labels = np.random.default_rng(seed).integers(0, 4, (size, _EPOCHS)).astype(np.int32)
  return {
      'signals': random_signals(_SIGNALS, size, _EPOCHS, seed),
      'present': np.ones((size, len(_SIGNALS)), bool),
      'labels': labels
  }


@functools.lru_cache(maxsize=None)
def _ema_run():
  """Two full-batch steps with EMA (shared by the accumulation and EMA tests)."""
  config = _deterministic_config(ema_decay=0.9)
  return config, _run(config, [_batch(0, 2), _batch(1, 2)])


def _run(config, batches):
  """Parameter and EMA trees after each step of `batches`."""
  mcfg = trainer.model_config_from(config)
  tx = step_lib.make_optimizer(config)
  params = model_io.init_params(mcfg, seed=0)
  state = step_lib.create_train_state(config, params, tx)
  train_step = jax.jit(step_lib.make_train_step(model_io.graphdef(mcfg), config, tx, mcfg.signals))
  states = [state]
  for batch in batches:
    state, _ = train_step(state, batch, jax.random.key(0))
    states.append(state)
  return states


def _close(a, b) -> bool:
  return all(
      jax.tree.leaves(jax.tree.map(lambda x, y: np.allclose(x, y, rtol=1e-4, atol=1e-6), a, b)))


def _least_squares_updates(config, batches, w):
  """`w` after each optimizer call, one per (x, y) batch (mean squared error)."""
  tx = step_lib.make_optimizer(config)
  opt_state, out = tx.init(w), []
  loss = lambda w, x, y: jnp.mean((x @ w - y)**2)
  for x, y in batches:
    updates, opt_state = tx.update(jax.grad(loss)(w, x, y), opt_state, w)
    w = optax.apply_updates(w, updates)
    out.append(w)
  return out


@pytest.mark.slow
def test_two_accumulated_half_batches_equal_one_batch_update():
  rng = np.random.default_rng(0)
  x, y, w = (rng.normal(size=s).astype(np.float32) for s in ((8, 5), 8, 5))
  halves = [(x[:4], y[:4]), (x[4:], y[4:])]
  accumulated = _least_squares_updates(_deterministic_config(grad_accum_steps=2), halves, w)
  single = _least_squares_updates(_deterministic_config(), [(x, y)], w)
  np.testing.assert_array_equal(accumulated[0], w)  # Micro-step: no update yet.
  assert np.abs(single[0] - w).min() > 1e-4
  np.testing.assert_allclose(accumulated[1], single[0], rtol=1e-5)


@pytest.mark.slow
def test_ema_params_trail_the_params_and_are_what_evaluation_and_export_use():
  config, states = _ema_run()
  before, after = states[1], states[2]
  expected = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, before.ema_params, after.params)
  assert _close(after.ema_params, expected)
  assert not _close(after.ema_params, after.params)
  assert trainer._eval_params(after, config) is after.ema_params  # pylint: disable=protected-access
  assert trainer._eval_params(after, _deterministic_config()) is after.params  # pylint: disable=protected-access


class _Constant:
  """A source of `n` one-epoch nights whose labels are all `label`."""

  def __init__(self, n: int, label: int):
    self.n, self.label = n, label

  def __len__(self):
    return self.n

  def __getitem__(self, index):
    return {'labels': np.full(1, self.label, np.int8), 'signals': {}, 'present': {}}


def test_mixture_weights_set_the_sampling_proportions():
  spec = pipeline.NightSpec(('ECG',), 1, 5)
  big, small = _Constant(90, 0), _Constant(10, 3)  # Concatenated: 90% label 0.
  ds = pipeline.train_dataset(big, spec, 50, seed=0, weights=[0.25, 0.75], extra_sources=[small])
  it = iter(ds)
  labels = np.concatenate([next(it)['labels'].ravel() for _ in range(8)])
  assert abs((labels == 3).mean() - 0.75) < 0.05
  concat = iter(pipeline.train_dataset(pipeline.ConcatSource([big, small]), spec, 50, seed=0))
  labels = np.concatenate([next(concat)['labels'].ravel() for _ in range(8)])
  assert abs((labels == 3).mean() - 0.1) < 0.05
