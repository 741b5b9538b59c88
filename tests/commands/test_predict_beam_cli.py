"""`predict --beam_pipeline_options` and `--bucket_hours` on the command line."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys

import pytest

from wav2sleep_jax.models import io as model_io
from tests import predict_testutil as util
from tests.conftest import REPO_ROOT
from tests.model_testutil import random_params, tiny_config


def _run(*args):
  return subprocess.run([sys.executable, '-m', 'wav2sleep_jax.predict', *args],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=300)


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
  root = tmp_path_factory.mktemp('cli')
  cfg = tiny_config(signals=('ECG', 'THX'))
  model_io.save_model(root / 'ck', cfg, random_params(cfg, seed=0, scale=1.0))
  util.write_table(root / 'in' / 'a.csv', util.table_signals(4, 32.0))
  util.write_table(root / 'in' / 'b.csv', util.table_signals(7, 32.0, seed=1))
  return root


def test_bad_options_are_one_line_errors(folder, tmp_path):
  common = (f'--model={folder / "ck"}', f'--input={folder / "in"}', f'--output={tmp_path}')
  result = _run(*common, '--bucket_hours=-1')
  assert result.returncode == 2 and 'bucket_hours' in result.stderr
  if importlib.util.find_spec('apache_beam') is not None:
    result = _run(*common, '--beam_pipeline_options=runner=FnApiRunner,oops')
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith('error: beam_pipeline_options')


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec('apache_beam') is None,
    reason="apache_beam missing: pip install -e '.[beam]'")
def test_beam_command_stages_the_folder(folder, tmp_path):
  result = _run(f'--model={folder / "ck"}', f'--input={folder / "in"}',
                f'--output={tmp_path / "out"}', '--beam_pipeline_options=runner=FnApiRunner',
                '--formats=csv', '--bucket_hours=0.05')
  assert result.returncode == 0, result.stderr
  assert 'Staged 2 night(s), skipped 0' in result.stdout
  with open(tmp_path / 'out' / 'summary.csv', newline='') as f:
    assert [(r['night'], r['epochs']) for r in csv.DictReader(f)] == [('a', '4'), ('b', '7')]
