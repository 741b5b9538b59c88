"""predict on Apache Beam (FnApiRunner, multi-processing): the local run's outputs."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest

from wav2sleep_jax.inference import runner
from wav2sleep_jax.models import io as model_io
from tests import predict_testutil as util
from tests.model_testutil import random_params, tiny_config

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec('apache_beam') is None,
    reason="apache_beam missing: pip install -e '.[beam]'")

OPTIONS = 'runner=FnApiRunner,direct_running_mode=multi_processing,direct_num_workers=2'


def _rows(path):
  with open(path, newline='', encoding='utf-8') as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
  """A model checkpoint and three nights of different lengths, one broken, one half bad."""
  root = tmp_path_factory.mktemp('beam')
  cfg = tiny_config(signals=('ECG', 'THX'))
  model_io.save_model(root / 'ck', cfg, random_params(cfg, seed=0, scale=1.0))
  util.write_table(root / 'in' / 'a.csv', util.table_signals(9, 64.0, seed=0))
  half = util.table_signals(14, 64.0, seed=1)
  half['ECG'] = half['ECG'] * 1e20  # Overflows the z-score: ECG absent, THX staged.
  util.write_table(root / 'in' / 'b.csv', half)
  util.write_table(root / 'in' / 'sub' / 'c.parquet', util.table_signals(20, 50.0, seed=2))
  (root / 'in' / 'broken.parquet').write_bytes(b'PAR1 nonsense')
  return root


@pytest.mark.slow
def test_beam_run_equals_local_run(folder, tmp_path):
  from wav2sleep_jax.inference import beam_pipeline

  kwargs = dict(
      batch_size=4,
      bucket_hours=0.1,  # 12-epoch buckets.
      formats=('csv', 'tsv', 'edf', 'xml', 'html'))
  local = runner.predict_files(
      str(folder / 'ck'), folder / 'in', tmp_path / 'local', workers=0, progress=False, **kwargs)
  beam = beam_pipeline.predict_files_beam(folder / 'ck', folder / 'in', tmp_path / 'beam', OPTIONS,
                                          **kwargs)
  assert beam.predicted == local.predicted == ('a', 'b', 'sub/c')
  assert beam.skipped == local.skipped == ('broken',)
  for name in ('summary.csv', 'skipped.csv', 'skipped.json'):
    assert (tmp_path / 'beam' / name).read_text() == (tmp_path / 'local' / name).read_text()
  assert not list((tmp_path / 'beam').glob('.predict-beam-*'))
  for night in local.predicted:
    want, got = (_rows(tmp_path / d / f'{night}.preds.csv') for d in ('local', 'beam'))
    assert [r['pred_stage'] for r in got] == [r['pred_stage'] for r in want]
    probs = lambda rows: np.array([[float(v)
                                    for k, v in r.items()
                                    if k.startswith('prob')]
                                   for r in rows])
    np.testing.assert_allclose(probs(got), probs(want), atol=1.1e-5)  # 5 decimals.


def test_pipeline_options_are_parsed_or_refused():
  from wav2sleep_jax.inference import beam_pipeline

  options = beam_pipeline.parse_options(OPTIONS).get_all_options()
  assert options['runner'] == 'FnApiRunner' and options['direct_num_workers'] == 2
  with pytest.raises(ValueError, match='key=value'):
    beam_pipeline.parse_options('runner=FnApiRunner,oops')
