"""Evaluation pads exactly (our records) or runs the stored grid (reference records)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.models import io as model_io
from tests.model_testutil import random_params, random_signals, tiny_config

SIGNALS = ('ECG', 'THX')
EPOCHS = 7


def _example(seed=0):
  x = random_signals(SIGNALS, 1, EPOCHS, seed=seed)
  rng = np.random.default_rng(seed)
  return {
      'labels': rng.integers(0, 5, EPOCHS).astype(np.int8),
      'signals': {
          n: v[0] for n, v in x.items()
      },
      'present': {
          n: True for n in SIGNALS
      }
  }


def test_prepared_nights_carry_their_valid_epochs():
  spec = pipeline.NightSpec(SIGNALS, num_epochs=12)
  assert int(pipeline.prepare_night(_example(), spec)['valid_epochs']) == EPOCHS
  assert int(pipeline.prepare_night(_example(), spec, start_epoch=3)['valid_epochs']) == 4
  short = pipeline.NightSpec(SIGNALS, num_epochs=5)
  assert int(pipeline.prepare_night(_example(), short)['valid_epochs']) == 5
  batch = next(pipeline.eval_batches([_example()], spec, batch_size=2))
  assert batch['valid_epochs'].tolist() == [EPOCHS, 12]  # The padding night counts as full.


def _model(exact_padding=False):
  """A tiny model and its eval step (ModelConfig.exact_padding is training's only)."""
  cfg = tiny_config(signals=SIGNALS, exact_padding=exact_padding)
  graphdef, params = nnx.split(model_io.build_model(cfg, random_params(cfg, seed=1)))
  return cfg, params, evaluator.make_eval_step(graphdef, cfg.num_classes)


@pytest.mark.parametrize('exact', [True, False])
def test_eval_statistics_do_not_depend_on_padding_when_the_batch_has_valid_epochs(exact):
  cfg, params, step = _model(exact)
  subset_M, require_all = np.ones(2, bool), np.asarray(False)
  loss, unmasked = [], []
  for length in (8, 16):
    batch = next(pipeline.eval_batches([_example(1)], pipeline.NightSpec(SIGNALS, length), 1))
    out = jax.device_get(step(params, batch, subset_M, require_all))
    assert int(out['count']) == EPOCHS
    loss.append(float(out['loss_sum']))
    del batch['valid_epochs']  # How reference records run: the norms see the padding.
    unmasked.append(float(jax.device_get(step(params, batch, subset_M, require_all))['loss_sum']))
  assert loss[0] == pytest.approx(loss[1], rel=1e-5)
  assert abs(unmasked[0] - unmasked[1]) > 1e-3 * abs(unmasked[0])


def _night(seed: int, epochs: int) -> dict:
  x = random_signals(SIGNALS, 1, epochs, seed=seed)
  labels = np.random.default_rng(seed).integers(0, 5, epochs).astype(np.int8)
  return {
      'labels': labels,
      'signals': {
          n: v[0] for n, v in x.items()
      },
      'present': {
          n: True for n in SIGNALS
      }
  }


def _evaluate(step, params, nights, spec, batch_size, max_epochs=0):
  raw, coverage = evaluator.evaluate_sources(
      step, params, {'d': nights}, spec, [()], batch_size, max_epochs=max_epochs, progress=False)
  return raw['d'][()], coverage['d']


def test_a_nights_numbers_do_not_depend_on_its_batch_mates_or_padded_length():
  _, params, step = _model()  # exact_padding off: evaluation still pads exactly.
  night, mate = _night(1, 7), _night(2, 14)
  alone = {
      k: _evaluate(step, params, [night], pipeline.NightSpec(SIGNALS, k), 1)[0] for k in (7, 8, 16)
  }  # Unpadded, padded to 8, padded to 16.
  mate_alone = _evaluate(step, params, [mate], pipeline.NightSpec(SIGNALS, 16), 1)[0]
  together, coverage = _evaluate(step, params, [night, mate], pipeline.NightSpec(SIGNALS, 16), 2)
  assert coverage['eval_lengths'] == {'16': 2} and coverage['padding'] == 'exact'
  for res in alone.values():
    np.testing.assert_array_equal(res.cm, alone[7].cm)
    assert res.loss_sum == pytest.approx(alone[7].loss_sum, rel=1e-5)
    assert res.night_kappas == pytest.approx(alone[7].night_kappas, abs=1e-9)
  np.testing.assert_array_equal(together.cm, alone[7].cm + mate_alone.cm)
  assert together.loss_sum == pytest.approx(alone[7].loss_sum + mate_alone.loss_sum, rel=1e-5)


def test_reference_records_run_on_their_stored_grid_unpadded_and_uncut():
  _, params, step = _model()
  prep = prep_lib.reference(max_hours=0.1)  # A 12-epoch grid.
  seen = []

  def spy(p, batch, *args):
    seen.append((batch['labels'].shape[1], 'valid_epochs' in batch))
    return step(p, batch, *args)

  nights = [_night(1, prep.grid_epochs), _night(2, prep.grid_epochs)]
  spec = pipeline.NightSpec(SIGNALS, 16, preprocessing=prep)
  res, coverage = _evaluate(spy, params, nights, spec, 2, max_epochs=6)
  assert seen == [(12, False)]  # Not padded to 16, not cut to 6, no exact padding.
  assert coverage['padding'] == 'reference grid' and coverage['max_epochs'] == 0
  assert coverage['cropped_scored_epochs'] == 0
  assert res.count == sum(int((n['labels'] >= 0).sum()) for n in nights)
