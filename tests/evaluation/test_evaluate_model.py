"""`evaluate --model`: another model (a reference folder, hf://) on records of its preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from wav2sleep_jax.configs import default as default_config
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core.signals import feature_key
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.psg import input_files
from wav2sleep_jax.psg import reference_grid
from tests.conftest import require_shared


def _reference_record(edf, signals, prep) -> dict:
  """A stored night as the `reference` builder config writes it, with made-up labels."""
  night = input_files.read_input(edf, signals, with_labels=False, preprocessing=prep)
  x = reference_grid.in_joined_order(night.signals, reference_grid.TRAINING_COLUMN_ORDER,
                                     prep.grid_epochs)
  labels = np.full(night.num_epochs, -1, np.int8)
  labels[:night.night_epochs] = np.random.default_rng(0).integers(0, 5, night.night_epochs)
  return {
      'record_id': night.record_id,
      'cohort': 'fixture',
      'labels': labels,
      'num_epochs': night.num_epochs,
      'preprocessing': prep_lib.to_json(prep),
      'signals': {
          feature_key(n): x.get(n, np.zeros(0, np.float32)) for n in signals
      },
      'present': {
          feature_key(n): n in x for n in signals
      }
  }


@pytest.mark.slow
def test_a_reference_model_on_reference_records_and_refused_on_ours(tmp_path):
  model = require_shared('fixtures', 'reference_predict', 'model_cardiorespiratory')
  edf = require_shared('fixtures', 'reference_predict', 'edf', 'shhs_style.edf')
  signals = ('ABD', 'THX', 'ECG', 'PPG')
  record = _reference_record(edf, signals, prep_lib.reference())
  config = default_config.get_config()
  config.eval_subsets = ((),)
  out = evaluator.evaluate_workdir(
      tmp_path / 'eval',
      model=str(model),
      config=config,
      sources={'shhs_like/reference': [record]},
      progress=False)
  assert out['preprocessing'] == {'name': 'reference', 'max_hours': 10}
  result = out['results']['shhs_like/reference']['all available']
  assert result['nights'] == 1 and result['scored_epochs'] == 312
  ours = dict(record, preprocessing=prep_lib.to_json(prep_lib.Preprocessing()))
  with pytest.raises(
      prep_lib.PreprocessingError,
      match='expects reference .* dataset shhs_like was built with wav2sleep_jax'):
    evaluator.evaluate_workdir(
        tmp_path / 'eval',
        model=str(model),
        config=config,
        sources={'shhs_like': [ours]},
        progress=False)
