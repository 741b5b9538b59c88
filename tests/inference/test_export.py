"""jax.export round trip: the serialised function reproduces the live model's logits."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from wav2sleep_jax.inference import exporting
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.models import io as model_io
from tests.conftest import REPO_ROOT
from tests.model_testutil import random_params, random_signals, tiny_config


@pytest.fixture(scope='module')
def model():
  cfg = tiny_config(signals=('ECG', 'THX'), num_classes=5)
  return model_lib.StagingModel(cfg, random_params(cfg, seed=1))


@pytest.mark.slow
def test_round_trip_matches_live_logits(model, tmp_path):
  exported = exporting.export_model(model, epochs=12, batch_size=2, platforms=['cpu'])
  path = exporting.save(exported, tmp_path / 'm.jaxexport', exporting.metadata(model, exported))
  loaded = exporting.load(path)
  x = random_signals(('ECG', 'THX'), batch=2, epochs=12, seed=5)
  logits_BSK = np.asarray(loaded.call(x))
  assert logits_BSK.shape == (2, 12, 5)
  np.testing.assert_allclose(logits_BSK, model.logits(x), atol=1e-5, rtol=0)
  meta = json.loads((tmp_path / 'm.jaxexport.json').read_text())
  assert meta['signals']['ECG']['shape'] == [2, 12 * 1024]
  assert meta['output']['shape'] == [2, 12, 5]
  assert meta['stage_names'] == ['Wake', 'N1', 'N2', 'N3', 'REM']
  assert meta['preprocessing'] == {'name': 'wav2sleep_jax', 'max_hours': None}
  with pytest.raises(ValueError, match='Shape mismatch'):  # Shapes are fixed.
    loaded.call(random_signals(('ECG', 'THX'), batch=2, epochs=13))


@pytest.mark.slow
def test_cli_exports_a_signal_subset(model, tmp_path):
  model_io.save_model(tmp_path / 'ck', model.config, model.params)
  out = tmp_path / 'thx.jaxexport'
  result = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.export', f'--model={tmp_path / "ck"}', f'--output={out}',
      '--signals=THX', '--epochs=7'
  ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr
  assert 'logits (1, 7, 5)' in result.stdout
  x = random_signals(('THX',), batch=1, epochs=7, seed=2)
  np.testing.assert_allclose(
      np.asarray(exporting.load(out).call(x)), model.logits(x), atol=1e-5, rtol=0)


def test_bad_signal_set(model):
  with pytest.raises(ValueError, match='distinct inputs of this model'):
    exporting.export_model(model, signals=('PPG',), epochs=2)
  with pytest.raises(ValueError, match='>= 1'):
    exporting.export_model(model, epochs=0)
