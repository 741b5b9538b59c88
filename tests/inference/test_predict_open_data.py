"""predict on the open datasets' records: a WFDB `.hea` (or a folder of records) is staged and
the dataset's scoring beside it gives per-night kappa (tiny model)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from wav2sleep_jax import synthetic
from wav2sleep_jax.core import stages
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import runner
from tests.model_testutil import random_params, tiny_config

HOURS = 20 / 120  # 20 epochs.


@pytest.fixture(scope='module')
def model():
  cfg = tiny_config(signals=('ECG', 'THX'))
  return model_lib.StagingModel(cfg, random_params(cfg, seed=0, scale=1.0))


@pytest.mark.parametrize('cohort', ['cinc2018', 'slpdb', 'hmc', 'ucddb'])
def test_predict_edf_stages_open_records_with_their_labels(model, tmp_path, cohort):
  night = synthetic.generate_night(cohort, seed=0, night_index=3, hours=HOURS)
  paths = synthetic.write_night(night, str(tmp_path))
  result = runner.predict_edf(model, paths['signal'])
  np.testing.assert_array_equal(result.labels_S, stages.five_to_four(night.labels))
  scored = result.labels_S >= 0
  assert result.kappa == pytest.approx(
      cohen_kappa_score(result.labels_S[scored], result.stages_S[scored]), abs=1e-12)
  assert result.signals == (('ECG',) if cohort == 'hmc' else ('ECG', 'THX'))


def test_predict_files_on_a_folder_of_wfdb_records(model, tmp_path):
  for cohort in ('cinc2018', 'slpdb', 'hmc'):
    synthetic.write_night(
        synthetic.generate_night(cohort, seed=0, night_index=3, hours=HOURS),
        str(tmp_path / 'in' / cohort))
  result = runner.predict_files(
      model,
      tmp_path / 'in',
      tmp_path / 'out',
      progress=False,
      formats=('csv', 'tsv', 'edf', 'xml', 'html'))
  assert result.predicted == ('cinc2018/training/tr03-0008/tr03-0008', 'hmc/recordings/SN004',
                              'slpdb/slp04')  # Never the HMC scoring EDF.
  with open(tmp_path / 'out' / 'summary.csv', newline='') as f:
    summary = list(csv.DictReader(f))
  assert [r['format'] for r in summary] == ['wfdb', 'edf', 'wfdb']
  assert all(r['kappa'] != '' for r in summary)
