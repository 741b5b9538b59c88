"""Prediction with a reference checkpoint folder (config.yaml + state_dict.pth)."""

from __future__ import annotations

import csv

import pytest

from wav2sleep_jax.inference import runner
from tests import predict_testutil as util
from tests.conftest import require_shared


@pytest.mark.slow
def test_reference_folder_predicts_an_edf(tmp_path):
  pytest.importorskip('torch', reason="torch missing: pip install -e '.[torch]'")
  folder = require_shared('fixtures', 'reference', 'wav2sleep_cardiorespiratory')
  _, edf = util.write_night(tmp_path / 'in', 'mesa', hours=10 / 120)
  result = runner.predict_files(str(folder), edf, tmp_path / 'out', progress=False)
  assert result.ok and result.predicted == ('mesa-sleep-0001',)
  with open(tmp_path / 'out' / 'summary.csv', newline='') as f:
    (row,) = list(csv.DictReader(f))
  assert set(row['signals'].split('+')) == {'ECG', 'PPG', 'ABD', 'THX'}
  assert row['epochs'] == '10' and row['kappa'] != ''
  assert (tmp_path / 'out' / 'mesa-sleep-0001.preds.csv').exists()
