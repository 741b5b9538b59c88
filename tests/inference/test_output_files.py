"""`predict_files(formats=...)` and `predict --formats`: exactly the chosen files are written."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from wav2sleep_jax.inference import hypnogram_formats
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import output_files
from wav2sleep_jax.inference import runner
from tests import predict_testutil as util
from tests.conftest import REPO_ROOT
from tests.model_testutil import random_params, tiny_config

EPOCHS = 20


@pytest.fixture(scope='module')
def model():
  cfg = tiny_config(signals=('ECG', 'THX'))
  return model_lib.StagingModel(cfg, random_params(cfg, seed=0, scale=1.0))


@pytest.fixture(scope='module')
def table_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('in')
  util.write_table(root / 'a.csv', util.table_signals(EPOCHS, 64.0))
  return root


def _files(folder) -> set[str]:
  return {p.relative_to(folder).as_posix() for p in folder.rglob('*') if p.is_file()}


def test_default_writes_every_format(model, table_dir, tmp_path):
  runner.predict_files(model, table_dir, tmp_path / 'out', workers=0, progress=False)
  assert _files(tmp_path / 'out') == {
      'a.preds.csv', 'a_hypnogram.tsv', 'a_hypnogram.json', 'a.annotations.edf', 'a.nsrr.xml',
      'a.hypnogram.png', 'index.html', 'summary.csv', 'skipped.csv', 'skipped.json'
  }
  with open(tmp_path / 'out' / 'summary.csv', newline='') as f:
    row = next(csv.DictReader(f))
  # The YASA-definition columns, and the AASM REM latency next to YASA's.
  for column in ('tib_min', 'spt_min', 'tst_min', 'waso_min', 'sleep_efficiency_pct',
                 'sleep_maintenance_efficiency_pct', 'sleep_fragmentation_index_per_h',
                 'sleep_onset_latency_min', 'persistent_sleep_latency_min',
                 'rem_latency_from_start_min', 'rem_latency_from_sleep_onset_min', 'light_pct',
                 'deep_min', 'awakenings'):
    assert column in row, column
  assert float(row['tib_min']) == EPOCHS / 2


@pytest.mark.parametrize('formats, expected', [
    (('csv',), {'a.preds.csv'}),
    (('TSV', 'xml'), {'a_hypnogram.tsv', 'a_hypnogram.json', 'a.nsrr.xml'}),
    (('edf', 'html'), {'a.annotations.edf', 'index.html'}),
    (('png',), {'a.hypnogram.png'}),
])
def test_chosen_formats_only(model, table_dir, tmp_path, formats, expected):
  runner.predict_files(
      model, table_dir, tmp_path / 'out', formats=formats, workers=0, progress=False)
  always = {'summary.csv', 'skipped.csv', 'skipped.json'}
  assert _files(tmp_path / 'out') == expected | always


def test_formats_are_the_registry_and_the_report():
  assert output_files.FORMATS == (*hypnogram_formats.WRITERS, 'html')
  assert list(hypnogram_formats.WRITERS) == ['csv', 'tsv', 'edf', 'xml', 'png']


def test_value_object_does_not_import_its_writers():
  import ast
  import inspect

  from wav2sleep_jax.inference import night_prediction

  tree = ast.parse(inspect.getsource(night_prediction))
  imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
  assert not imported & {'hypnogram_formats', 'output_files'}


def test_format_names_are_checked():
  assert output_files.check_formats('csv, XML,csv') == ('csv', 'xml')
  with pytest.raises(ValueError, match=r"Unknown output format\(s\) \['pdf'\]"):
    output_files.check_formats(['csv', 'pdf'])


def test_predict_command_formats_flag(tmp_path, table_dir):
  from wav2sleep_jax.models import io as model_io

  cfg = tiny_config(signals=('ECG', 'THX'))
  model_io.save_model(tmp_path / 'ck', cfg, random_params(cfg, seed=0, scale=1.0))
  args = [
      sys.executable, '-m', 'wav2sleep_jax.predict', f'--model={tmp_path / "ck"}',
      f'--input={table_dir}', '--workers=0'
  ]
  bad = subprocess.run(
      args + [f'--output={tmp_path / "bad"}', '--formats=csv,docx'],
      cwd=REPO_ROOT,
      capture_output=True,
      text=True,
      timeout=300)
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1].startswith('error: ')
  assert "['docx']" in bad.stderr
  ok = subprocess.run(
      args + [f'--output={tmp_path / "out"}', '--formats=tsv,html'],
      cwd=REPO_ROOT,
      capture_output=True,
      text=True,
      timeout=300)
  assert ok.returncode == 0, ok.stderr
  assert _files(tmp_path / 'out') == {
      'a_hypnogram.tsv', 'a_hypnogram.json', 'index.html', 'summary.csv', 'skipped.csv',
      'skipped.json'
  }
  page = (tmp_path / 'out' / 'index.html').read_text()
  assert '--formats=tsv,html' in page and 'python -m wav2sleep_jax.predict' in page
  assert page.count('<svg') == 1  # The night's hypnogram.
