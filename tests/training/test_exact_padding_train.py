"""Training with ModelConfig.exact_padding: a padded night's step equals the unpadded one's."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from tests.model_testutil import random_signals
from tests.train_testutil import tiny_train_config
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.training import step as step_lib
from wav2sleep_jax.training import trainer

_SIGNALS = ('THX',)


def _step_metrics(config, batch):
  """(loss, gradient norm) of one deterministic training step on `batch`."""
  mcfg = trainer.model_config_from(config)
  tx = step_lib.make_optimizer(config)
  params = model_io.init_params(mcfg, seed=0)
  state = step_lib.create_train_state(config, params, tx)
  train_step = jax.jit(step_lib.make_train_step(model_io.graphdef(mcfg), config, tx, mcfg.signals))
  metrics = train_step(state, batch, jax.random.key(0))[1]
  return np.array([float(metrics['loss']), float(metrics['grad_norm'])])


@pytest.mark.slow
def test_padded_batch_trains_like_the_unpadded_night():
  config = tiny_train_config(polarity_flip_prob=0.0, warmup_steps=0)
  config.mask_probs = {}
  config.model.update(
      signals=_SIGNALS,
      dropout=0.0,
      remat=False,
      mixer_layers=1,
      sequence_blocks=1,
      sequence_dilations=(1, 2),
      exact_padding=True)
  x = random_signals(_SIGNALS, 1, 3, seed=0)['THX']
  labels = np.array([[0, 2, 1]], np.int32)
  night = {
      'signals': {
          'THX': x
      },
      'present': np.ones((1, 1), bool),
      'labels': labels,
      'valid_epochs': np.array([3], np.int32)
  }
  padded = {
      'signals': {
          'THX': np.pad(x, ((0, 0), (0, 3 * 256)))
      },
      'present': np.ones((1, 1), bool),
      'labels': np.pad(labels, ((0, 0), (0, 3)), constant_values=-1),
      'valid_epochs': np.array([3], np.int32)
  }
  np.testing.assert_allclose(_step_metrics(config, padded), _step_metrics(config, night), rtol=1e-5)
  config.model.exact_padding = False  # The reference's behaviour: padding changes the step.
  plain = _step_metrics(config, padded)
  assert np.abs(plain - _step_metrics(config, night)).max() > 1e-4 * np.abs(plain).max()
