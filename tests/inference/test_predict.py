"""Prediction API: batching, inputs, per-night outputs and the folder runner (tiny model).

All nights here last 20 epochs so that the forward pass compiles only for a
few shapes.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import importlib

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

import wav2sleep_jax
from wav2sleep_jax.core import stages
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import batching
from wav2sleep_jax.inference import night_prediction
from wav2sleep_jax.inference import runner
from wav2sleep_jax.inference import output_files
from tests import predict_testutil as util
from tests.model_testutil import random_params, random_signals, tiny_config

EPOCHS = 20
HOURS = EPOCHS / 120


@pytest.fixture(scope='module')
def model():
  cfg = tiny_config(signals=('ECG', 'THX'))
  return model_lib.StagingModel(cfg, random_params(cfg, seed=0, scale=1.0))


def _night(seed, names=('ECG', 'THX')):
  return {n: v[0] for n, v in random_signals(names, 1, EPOCHS, seed=seed).items()}


@pytest.mark.slow
def test_nights_do_not_depend_on_batch_mates(model):
  a, b, c = _night(0), _night(1), _night(2, names=('THX',))
  batched = runner.predict_signals(model, [a, b, c], batch_size=2)  # a+b in one batch.
  alone = [runner.predict_signals(model, night) for night in (a, b, c)]
  for got, want in zip(batched, alone):  # Float32 rounding of different batch sizes only.
    scale = np.abs(want.logits_SK).max()  # ~300 with these random weights.
    np.testing.assert_allclose(got.logits_SK, want.logits_SK, rtol=0, atol=3e-6 * scale)
    np.testing.assert_array_equal(got.stages_S, want.stages_S)
  assert [p.signals for p in batched] == [('ECG', 'THX'), ('ECG', 'THX'), ('THX',)]
  # Same as the array API with per-night z-scoring.
  direct = model.logits({n: v[None] for n, v in a.items()}, normalize=True)[0]
  np.testing.assert_array_equal(alone[0].logits_SK, direct)
  assert alone[0].probabilities_SK.shape == (EPOCHS, 4)
  np.testing.assert_allclose(alone[0].probabilities_SK.sum(-1), 1.0, atol=1e-6)


def test_native_rate_inputs_and_package_exports(model):
  rng = np.random.default_rng(3)
  night = {
      'ECG': (rng.standard_normal(EPOCHS * 30 * 256 + 100), 256.0),  # Partial epoch dropped.
      'THX': (rng.standard_normal(EPOCHS * 30 * 32), 32.0)
  }
  result = wav2sleep_jax.predict_signals(model, night)
  assert result.num_epochs == EPOCHS and result.stage_names == stages.STAGES_4
  assert result.timestamps[:2] == [30.0, 60.0]
  # Importing the predict command leaves the API function alone.
  importlib.import_module('wav2sleep_jax.predict')
  again = wav2sleep_jax.predict_signals(model, night)
  np.testing.assert_array_equal(again.logits_SK, result.logits_SK)
  assert wav2sleep_jax.predict_edf is runner.predict_edf


@pytest.mark.parametrize('night, message', [
    ({
        'EEG': np.zeros(1024)
    }, 'not inputs of this model'),
    ({
        'ECG': np.zeros(1000)
    }, 'shorter than one 30-s epoch'),
    ({
        'ECG': np.zeros(4096),
        'THX': np.zeros(256)
    }, 'different numbers of 30-s epochs'),
    ({
        'ECG': np.full(1024, np.nan)
    }, 'No present signal'),
    ({
        'ECG': np.zeros((2, 1024))
    }, 'expected one night'),
    ({}, 'non-empty dict'),
])
def test_bad_nights(model, night, message):
  with pytest.raises(ValueError, match=message):
    runner.predict_signals(model, night)


def test_kappa_matches_sklearn():
  rng = np.random.default_rng(0)
  labels_S = rng.integers(-1, 4, 300)
  logits_SK = rng.standard_normal((300, 4)) + 2.0 * np.eye(4)[np.clip(labels_S, 0, 3)]
  night = night_prediction.NightPrediction(logits_SK, stages.STAGES_4, labels_S=labels_S)
  scored = labels_S >= 0
  expected = cohen_kappa_score(labels_S[scored], night.stages_S[scored])
  assert 0.2 < expected < 0.9
  assert night.kappa == pytest.approx(expected, abs=1e-12)
  assert night.accuracy == pytest.approx(np.mean(labels_S[scored] == night.stages_S[scored]))


def _read_csv(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def test_predict_edf_writes_reference_compatible_csv_and_plot(model, tmp_path):
  night, edf = util.write_night(tmp_path / 'in', 'shhs', hours=HOURS, labels=('ECG', 'THOR RES'))
  result = runner.predict_edf(model, edf)
  np.testing.assert_array_equal(result.labels_S, stages.five_to_four(night.labels))
  scored = result.labels_S >= 0
  assert result.kappa == pytest.approx(
      cohen_kappa_score(result.labels_S[scored], result.stages_S[scored]), abs=1e-12)
  result = dataclasses.replace(result, name='a/night')
  csv_path, png_path = output_files.write_outputs(result, tmp_path / 'out', formats=('csv', 'png'))
  assert csv_path.endswith('a/night.preds.csv') and png_path.endswith('a/night.hypnogram.png')
  rows = _read_csv(csv_path)
  assert list(rows[0]) == [
      'Timestamp', 'Pred', 'Stage', 'onset_s', 'duration_s', 'pred_stage', 'scored_stage',
      'prob_Wake', 'prob_Light', 'prob_Deep', 'prob_REM'
  ]
  assert len(rows) == EPOCHS
  end = night.start_time + datetime.timedelta(seconds=30)
  assert rows[0]['Timestamp'] == end.strftime('%Y-%m-%d %H:%M:%S')
  assert [int(r['Pred']) for r in rows] == result.stages_S.tolist()
  assert [int(r['Stage']) for r in rows] == result.labels_S.tolist()
  assert rows[3]['pred_stage'] == stages.STAGES_4[int(rows[3]['Pred'])]
  with open(png_path, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_predict_files_channels_signals_tables(model, tmp_path):
  root = tmp_path / 'in'
  util.write_night(root, 'shhs', hours=HOURS, labels=('ECG', 'THOR RES'), relabel={'ECG': 'Heart'})
  util.write_table(root / 'tables' / 'a.csv', util.table_signals(EPOCHS, 64.0))
  util.write_table(root / 'tables' / 'b.parquet', util.table_signals(EPOCHS, 50.0, seed=1))
  (root / 'tables' / 'broken.parquet').write_bytes(b'PAR1 nonsense')
  out = tmp_path / 'out'
  result = runner.predict_files(
      model, root, out, channel_map={'ECG': ('Heart', 'ECG')}, batch_size=1, progress=False)
  names = ('shhs/polysomnography/edfs/shhs1/shhs1-200001', 'tables/a', 'tables/b')
  assert result.predicted == names and result.skipped == ('tables/broken',)
  summary = _read_csv(out / 'summary.csv')
  assert [r['night'] for r in summary] == list(names)
  assert [r['signals'] for r in summary] == ['ECG+THX'] * 3
  assert [r['format'] for r in summary] == ['edf', 'csv', 'parquet']
  assert summary[1]['kappa'] == '' and summary[0]['kappa'] != ''
  rows = _read_csv(out / 'tables' / 'a.preds.csv')
  assert 'Stage' not in rows[0] and rows[-1]['Timestamp'] == f'{30.0 * EPOCHS}'
  skipped = _read_csv(out / 'skipped.csv')
  assert [(r['path'], r['action']) for r in skipped] == [('tables/broken.parquet', 'night skipped')]
  assert 'cannot read parquet' in skipped[0]['reason']

  # Without the mapping the EDF's ECG is absent; --signals=THX uses THX only.
  only = runner.predict_files(
      model,
      root / 'tables' / 'a.csv',
      tmp_path / 'thx',
      signals=['THX'],
      progress=False,
      formats=('csv', 'tsv', 'edf', 'xml', 'html'))
  assert only.predicted == ('a',)
  assert _read_csv(tmp_path / 'thx' / 'summary.csv')[0]['signals'] == 'THX'
  assert not (tmp_path / 'thx' / 'a.hypnogram.png').exists()
  with pytest.raises(ValueError, match='not inputs of this model'):
    runner.predict_files(model, root, tmp_path / 'x', signals=['PPG'], progress=False)


def test_nothing_staged(model, tmp_path):
  (tmp_path / 'in').mkdir()
  (tmp_path / 'in' / 'broken.edf').write_bytes(b'garbage')
  result = runner.predict_files(model, tmp_path / 'in', tmp_path / 'out', progress=False)
  assert not result.ok and result.skipped == ('broken',)
  assert (tmp_path / 'out' / 'summary.csv').read_text() == 'night\n'
  with pytest.raises(FileNotFoundError, match='No edf file found'):
    runner.predict_files(model, tmp_path / 'out', tmp_path / 'out2', kinds=('edf',), progress=False)


class _FailingModel:
  """Stands in for a model whose forward pass fails on night 2 (marked by its value)."""

  signals = ('ECG', 'THX')

  def __init__(self):
    self.calls = []

  def logits(self, batch):
    values = [float(row[0]) for row in batch['ECG']]
    self.calls.append(values)
    if 2.0 in values:
      raise FloatingPointError('night 2 is bad')
    return np.array(values, np.float32)[:, None, None] * np.ones((1, 2, 4), np.float32)


def test_failing_batch_is_retried_night_by_night():
  fake = _FailingModel()
  batcher = batching.Batcher(fake, batch_size=4)
  done = []
  for i in range(4):
    x = {'ECG': np.full(2 * 1024, float(i), np.float32), 'THX': np.zeros(2 * 256, np.float32)}
    done += batcher.add(i, x, 2)
  done = dict(done + batcher.flush())
  assert isinstance(done[2], FloatingPointError)
  for i in (0, 1, 3):
    np.testing.assert_array_equal(done[i], np.full((2, 4), float(i)))
  assert fake.calls == [[0.0, 1.0, 2.0, 3.0], [0.0], [1.0], [2.0], [3.0]]


def test_bad_night_does_not_take_its_batch_mates_down(model, tmp_path):
  root = tmp_path / 'in'
  for name, seed in (('a', 0), ('b', 1)):
    util.write_table(root / f'{name}.csv', util.table_signals(EPOCHS, 64.0, seed=seed))
  overflow = util.table_signals(EPOCHS, 64.0, seed=2)  # Beyond float32: inf when stored.
  overflow.update(ECG=overflow['ECG'] * 1e300, THX=overflow['THX'] * 1e300)
  util.write_table(root / 'c.csv', overflow)
  huge = util.table_signals(EPOCHS, 64.0, seed=3)  # Fits float32, overflows the z-score.
  huge.update(ECG=huge['ECG'] * 1e20, THX=huge['THX'] * 1e20)
  util.write_table(root / 'd.csv', huge)
  one_bad = util.table_signals(EPOCHS, 64.0, seed=4)
  one_bad['ECG'] = one_bad['ECG'] * 1e20
  util.write_table(root / 'e.csv', one_bad)
  result = runner.predict_files(
      model,
      root,
      tmp_path / 'out',
      batch_size=8,
      formats=('csv', 'tsv', 'edf', 'xml', 'html'),
      workers=0,
      progress=False)
  assert result.predicted == ('a', 'b', 'e') and result.skipped == ('c', 'd')
  skipped = {
      (r['record_id'], r['action']): r['reason'] for r in _read_csv(tmp_path / 'out' / 'skipped.csv')
  }
  assert 'overflow float32' in skipped['c', 'night skipped']
  assert 'overflow the float32 normalisation' in skipped['d', 'night skipped']
  assert skipped['e', 'channel absent'].startswith('ECG: samples up to')
  summary = {r['night']: r for r in _read_csv(tmp_path / 'out' / 'summary.csv')}
  assert summary['e']['signals'] == 'THX' and summary['a']['signals'] == 'ECG+THX'
  alone = runner.predict_files(
      model,
      root / 'a.csv',
      tmp_path / 'alone',
      formats=('csv', 'tsv', 'edf', 'xml', 'html'),
      workers=0,
      progress=False)
  assert alone.predicted == ('a',)
  assert _read_csv(tmp_path / 'alone' / 'a.preds.csv') == _read_csv(tmp_path / 'out' /
                                                                    'a.preds.csv')


def test_array_api_rejects_nights_that_would_overflow(model):
  night = _night(0)
  night['ECG'] = night['ECG'] * 1e20
  assert runner.predict_signals(model, night).signals == ('THX',)
  night['THX'] = night['THX'] * 1e20
  with pytest.raises(ValueError, match='Night 0: no usable signal'):
    runner.predict_signals(model, night)
