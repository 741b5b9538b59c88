"""`python -m wav2sleep_jax.predict` end to end on a folder of synthetic EDFs.

Mixed cohort layouts (NSRR XML and WSC text annotations, different channel
labels and rates), a corrupt and a truncated EDF, and a 13-h night.
"""

from __future__ import annotations

import csv
import datetime
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from wav2sleep_jax.models import io as model_io
from tests import predict_testutil as util
from tests.conftest import REPO_ROOT
from tests.model_testutil import random_params, tiny_config

COHORTS = ('shhs', 'mesa', 'cfs', 'chat', 'mros', 'wsc')


def _run(*args):
  return subprocess.run([sys.executable, '-m', 'wav2sleep_jax.predict', *args],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=300)


def _read_csv(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
  cfg = tiny_config(signals=('ECG', 'THX'))
  path = tmp_path_factory.mktemp('model') / 'ck'
  model_io.save_model(path, cfg, random_params(cfg, seed=0, scale=1.0))
  return path


@pytest.mark.slow
def test_folder_of_mixed_nights(model_dir, tmp_path):
  root = tmp_path / 'in'
  nights = {}
  for i, cohort in enumerate(COHORTS):
    night, edf = util.write_night(root, cohort, index=i, hours=0.5)
    nights[os.path.relpath(edf, root)[:-4]] = night
  # 13 h with one channel (the cheapest to write and read).
  night, edf = util.write_night(root / 'long', 'shhs', index=9, hours=13, labels=('THOR RES',))
  long_name = os.path.relpath(edf, root)[:-4]
  nights[long_name] = night
  (root / 'corrupt.edf').write_bytes(b'0       ' + b'\xff' * 300)
  data = open(edf, 'rb').read()
  (root / 'truncated.edf').write_bytes(data[:len(data) // 2])

  out = tmp_path / 'out'
  result = _run(f'--model={model_dir}', f'--input={root}', f'--output={out}')
  assert result.returncode == 1, result.stderr  # Partial: two nights skipped.
  assert 'Staged 7 night(s), skipped 2' in result.stdout

  summary = {r['night']: r for r in _read_csv(out / 'summary.csv')}
  assert set(summary) == set(nights)
  for name, night in nights.items():
    rows = _read_csv(out / f'{name}.preds.csv')
    assert (out / f'{name}.hypnogram.png').stat().st_size > 1000
    assert len(rows) == len(night.labels) == int(summary[name]['epochs'])
    end = night.start_time + datetime.timedelta(seconds=30 * len(rows))
    assert rows[-1]['Timestamp'] == end.strftime('%Y-%m-%d %H:%M:%S')
    pred = np.array([int(r['Pred']) for r in rows])
    scored = np.array([int(r['Stage']) for r in rows])
    valid = scored >= 0
    assert float(summary[name]['kappa']) == pytest.approx(
        cohen_kappa_score(scored[valid], pred[valid]), abs=1e-4)
    tst = float(summary[name]['tst_min'])
    assert tst == 0.5 * np.sum(pred > 0)
    assert float(summary[name]['sleep_efficiency_pct']) == pytest.approx(
        100 * tst / (0.5 * len(rows)), abs=1e-3)
  assert summary[long_name]['hours'] == '13.0' and summary[long_name]['signals'] == 'THX'
  assert {r['signals'] for n, r in summary.items() if n != long_name} == {'ECG+THX'}

  skipped = {r['path']: r for r in _read_csv(out / 'skipped.csv')}
  assert skipped['corrupt.edf']['action'] == 'night skipped'
  assert 'corrupt EDF header' in skipped['corrupt.edf']['reason']
  assert 'truncated EDF' in skipped['truncated.edf']['reason']
  assert skipped[long_name + '.edf']['action'] == 'channel absent'


@pytest.mark.slow
def test_exit_codes(model_dir, tmp_path):
  (tmp_path / 'broken.edf').write_bytes(b'garbage')
  result = _run(f'--model={model_dir}', f'--input={tmp_path / "broken.edf"}',
                f'--output={tmp_path / "out"}', '--signals=ECG,EEG')
  assert result.returncode == 2 and 'not inputs of this model' in result.stderr
  result = _run(f'--model={model_dir}', f'--input={tmp_path / "broken.edf"}',
                f'--output={tmp_path / "out"}', '--channels=ECG=EKG')
  assert result.returncode == 1, result.stderr
  assert 'Staged 0 night(s), skipped 1' in result.stdout
  util.write_table(tmp_path / 'good' / 'a.csv', util.table_signals(4, 32.0))
  result = _run(f'--model={model_dir}', f'--input={tmp_path / "good"}',
                f'--output={tmp_path / "out2"}', '--formats=csv,tsv,edf,xml,html')
  assert result.returncode == 0, result.stderr
  assert 'Staged 1 night(s), skipped 0' in result.stdout
