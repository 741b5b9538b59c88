"""ModelConfig.exact_padding: evaluation (and training) batches pass each night's valid epochs."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from wav2sleep_jax.data import pipeline
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.models import io as model_io
from tests.model_testutil import random_params, random_signals, tiny_config

SIGNALS = ('ECG', 'THX')
EPOCHS = 7


def _example(seed=0):
  x = random_signals(SIGNALS, 1, EPOCHS, seed=seed)
  rng = np.random.default_rng(seed)
  return {'labels': rng.integers(0, 5, EPOCHS).astype(np.int8),
          'signals': {n: v[0] for n, v in x.items()}, 'present': {n: True for n in SIGNALS}}


def test_prepared_nights_carry_their_valid_epochs():
  spec = pipeline.NightSpec(SIGNALS, num_epochs=12)
  assert int(pipeline.prepare_night(_example(), spec)['valid_epochs']) == EPOCHS
  assert int(pipeline.prepare_night(_example(), spec, start_epoch=3)['valid_epochs']) == 4
  short = pipeline.NightSpec(SIGNALS, num_epochs=5)
  assert int(pipeline.prepare_night(_example(), short)['valid_epochs']) == 5
  batch = next(pipeline.eval_batches([_example()], spec, batch_size=2))
  assert batch['valid_epochs'].tolist() == [EPOCHS, 12]  # The padding night counts as full.


@pytest.mark.parametrize('exact', [True, False])
def test_eval_statistics_do_not_depend_on_padding_with_exact_padding(exact):
  cfg = tiny_config(signals=SIGNALS, exact_padding=exact)
  graphdef, params = nnx.split(model_io.build_model(cfg, random_params(cfg, seed=1)))
  step = evaluator.make_eval_step(graphdef, cfg.num_classes)
  subset_M, require_all = np.ones(2, bool), np.asarray(False)
  loss = []
  for length in (8, 16):
    batch = next(pipeline.eval_batches([_example(1)], pipeline.NightSpec(SIGNALS, length), 1))
    out = jax.device_get(step(params, batch, subset_M, require_all))
    assert int(out['count']) == EPOCHS
    loss.append(float(out['loss_sum']))
  if exact:
    assert loss[0] == pytest.approx(loss[1], rel=1e-5)
  else:  # The reference's behaviour: the norms see the padding.
    assert abs(loss[0] - loss[1]) > 1e-3 * abs(loss[0])
