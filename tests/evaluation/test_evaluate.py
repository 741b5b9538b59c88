"""Evaluation of a run's workdir: numbers vs scikit-learn, night counts, report files, CLI."""

from __future__ import annotations

import functools
import json
import pathlib
import re
import struct
import subprocess
import sys

import jax
import numpy as np
import pytest

from wav2sleep_jax.core import run_dir
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.evaluation import tables
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.training import demo_data
from tests.conftest import REPO_ROOT
from tests import train_testutil
from tests.train_testutil import synthetic_nights, tiny_train_config

DATASETS = ('synthetic/demo_mesa', 'synthetic/demo_shhs')
EXTRA = [('ECG', 'THX'), ('THX', 'ECG')]  # The repeat (other order) is evaluated once.


def _config():
  """The demo config on tiny cohorts (6-min nights) and a tiny model."""
  from wav2sleep_jax.configs import demo
  config = demo.get_config()
  config.unlock()
  for cohort in config.synthetic_cohorts:
    cohort.update(nights=8, hours=0.1, split_sizes=(0.25, 0.25, 0.5))
  config.model.update(**train_testutil.TINY_TRAIN_MODEL)
  config.update(eval_epochs=12, eval_batch_size=2)
  return config


def _make_workdir(workdir: pathlib.Path, config) -> None:
  """What training leaves behind: config.json and model/ (random weights here)."""
  from wav2sleep_jax.training import trainer
  workdir.mkdir(parents=True, exist_ok=True)
  run_dir.RunDir(workdir).write_config(config)
  mcfg = trainer.model_config_from(config)
  model_io.save_model(run_dir.RunDir(workdir).model, mcfg, model_io.init_params(mcfg, seed=3))


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A workdir over a real (tiny) TFDS build of the demo cohorts, evaluated once."""
  workdir = tmp_path_factory.mktemp('run')
  config = _config()
  demo_data.prepare(config, workdir)  # -> workdir/data, where the demo run keeps it.
  _make_workdir(workdir, config)
  out = evaluator.evaluate_workdir(workdir, subsets=EXTRA, progress=False)
  return workdir, out


@functools.lru_cache
def _model(workdir):
  from flax import nnx
  mcfg, params = model_io.load_model_checkpoint(run_dir.RunDir(workdir).model)
  return mcfg, jax.jit(lambda x, mask: nnx.merge(model_io.graphdef(mcfg), params)(x, mask))


def _predictions(workdir, name, subset):
  """(labels, predictions) per night that has `subset`, from the model on the unpadded night."""
  import tensorflow_datasets as tfds
  mcfg, forward = _model(workdir)
  source = tfds.data_source(
      name, split='test', data_dir=str(run_dir.RunDir(workdir).generated_data))
  nights = []
  for i in range(len(source)):
    night = pipeline.prepare_night(
        source[i], pipeline.NightSpec(mcfg.signals, len(source[i]['labels']), mcfg.num_classes))
    wanted = np.array([not subset or s in subset for s in mcfg.signals])
    mask = night['present'] & wanted
    if not mask.any() or (subset and mask.sum() < len(subset)):
      continue  # The night lacks (some of) the subset's signals.
    logits = forward({k: v[None] for k, v in night['signals'].items()}, mask[None])
    scored = night['labels'] >= 0
    nights.append((night['labels'][scored], np.asarray(logits[0].argmax(-1))[scored]))
  return nights


@pytest.mark.slow
def test_numbers_match_sklearn_on_the_same_predictions(run):
  sk = pytest.importorskip('sklearn.metrics')
  workdir, out = run
  assert list(out['results']) == list(DATASETS)
  assert out['subsets'] == ['all available', 'ECG', 'PPG', 'THX', 'ABD', 'ECG+THX']
  for name in DATASETS:
    for subset in ((), ('ECG',), ('PPG',), ('ECG', 'THX')):
      s = out['results'][name][evaluator.subset_name(subset)]
      nights = _predictions(workdir, name, subset)
      assert s['nights'] == len(nights)
      if not nights:
        assert name.endswith('shhs') and subset == ('PPG',)  # SHHS has no PPG.
        continue
      y = np.concatenate([n[0] for n in nights])
      p = np.concatenate([n[1] for n in nights])
      assert len(set(p)) > 1  # The random model is not constant: the check means something.
      assert s['scored_epochs'] == len(y)
      np.testing.assert_array_equal(s['confusion_matrix'],
                                    sk.confusion_matrix(y, p, labels=range(4)))
      assert s['kappa'] == pytest.approx(sk.cohen_kappa_score(y, p), abs=1e-9)
      assert s['accuracy'] == pytest.approx(sk.accuracy_score(y, p), abs=1e-12)
      precision, recall, f1, _ = sk.precision_recall_fscore_support(
          y, p, labels=range(4), zero_division=np.nan)
      for key, want in (('precision', precision), ('recall', recall), ('f1', f1)):
        np.testing.assert_allclose(np.array(s[key], float), want, equal_nan=True)
      with np.errstate(invalid='ignore'):  # sklearn: nan when both use one class only.
        per_night = [sk.cohen_kappa_score(a, b) for a, b in nights]
      per_night = np.nan_to_num(per_night, nan=1.0)
      assert s['night_kappa_median'] == pytest.approx(np.median(per_night), abs=1e-9)
      assert s['night_kappa_iqr'] == pytest.approx(np.percentile(per_night, [25, 75]))


def test_report_files_have_the_paper_shape(run):
  workdir, out = run
  outdir = run_dir.RunDir(workdir).eval_dir('test')
  assert json.loads((outdir / run_dir.METRICS_FILE).read_text()) == tables.strict_json(out)
  text = (outdir / 'table.md').read_text()
  kappa = text.split("## Total Cohen's kappa")[1].split('##')[0]
  rows = [line for line in kappa.splitlines() if line.startswith('|')]
  assert rows[0] == '| test inputs | demo_mesa | demo_shhs |' and rows[1] == '|---|---|---|'
  assert [r.split(' | ')[0][2:] for r in rows[2:]
         ] == ['all available', 'ECG', 'PPG', 'THX', 'ABD', 'ECG + THX']
  for row in rows[2:]:
    cells = row.strip('| ').split(' | ')[1:]
    for cell, name in zip(cells, DATASETS):
      nights = out['results'][name][row.split(' | ')[0][2:].replace(' + ', '+')]['nights']
      assert re.fullmatch(rf'-?\d\.\d{{3}} \(n={nights}\)', cell) or (cell == '–' and not nights)
  assert '| PPG | ' in kappa and kappa.split('| PPG | ')[1].split('\n')[0].endswith('| – |')
  for section in ('## Accuracy', '## Per-night kappa: median [IQR]', '### demo_mesa',
                  'no scored epoch cut off'):
    assert section in text
  pngs = sorted(p.name for p in (outdir / 'confusion').glob('*.png'))
  assert len(pngs) == 11  # 6 subsets x 2 datasets, minus PPG on SHHS.
  assert 'synthetic_demo_mesa__ECG+THX.png' in pngs
  assert all((outdir / 'confusion' / p).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' for p in pngs)
  scalars = _tensorboard_scalars(outdir / 'tensorboard')
  s = out['results']['synthetic/demo_mesa']['ECG+THX']
  assert scalars['test/synthetic/demo_mesa/ECG_THX/kappa'] == pytest.approx(s['kappa'], rel=1e-6)
  assert scalars['test/synthetic/demo_shhs/all_available/nights'] == \
      out['results']['synthetic/demo_shhs']['all available']['nights']


def _tensorboard_scalars(logdir: pathlib.Path) -> dict[str, float]:
  """tag -> value from tensorboardX event files (TFRecord framing)."""
  from tensorboardX.proto import event_pb2
  values = {}
  for path in logdir.glob('events.out.tfevents.*'):
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack('<Q', data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        if value.HasField('simple_value'):
          values[value.tag] = value.simple_value
  assert values, f'no scalars in {logdir}'
  return values


@pytest.mark.slow
def test_nights_lacking_a_signal_are_excluded_and_long_nights_kept_whole(tmp_path):
  workdir = tmp_path / 'run'
  _make_workdir(workdir, _config())  # The fixture's model: its compiled eval step is reused.
  nights = [dict(n) for n in synthetic_nights('mesa', 3, 0.1)]  # 12 epochs each.
  nights[1]['present'] = dict(nights[1]['present'], THX=False)
  nights.append(synthetic_nights('mesa', 1, 0.25, seed=1)[0])  # 30 epochs > eval_epochs.
  scored = sum(int((np.asarray(n['labels']) >= 0).sum()) for n in nights)
  out = evaluator.evaluate_workdir(
      workdir, subsets=[('ECG', 'THX')], sources={'mem': nights}, progress=False)
  res = out['results']['mem']
  assert {
      k: v['nights'] for k, v in res.items()
  } == {
      'all available': 4,
      'ECG': 4,
      'PPG': 4,
      'THX': 3,
      'ABD': 4,
      'ECG+THX': 3
  }
  assert res['all available']['scored_epochs'] == scored
  assert out['datasets']['mem']['eval_lengths'] == {'12': 3, '36': 1}
  assert out['datasets']['mem']['cropped_scored_epochs'] == 0
  report = run_dir.RunDir(workdir).eval_dir('test') / 'table.md'
  assert 'no scored epoch cut off' in report.read_text()

  cropped = evaluator.evaluate_workdir(
      workdir, sources={'mem': nights}, max_epochs=12, progress=False)
  cut = int((np.asarray(nights[-1]['labels'])[12:] >= 0).sum())
  assert cut > 0 and cropped['datasets']['mem']['cropped_scored_epochs'] == cut
  assert cropped['results']['mem']['all available']['scored_epochs'] == scored - cut
  assert f'**{cut} scored epochs of 1 night cut off**' in (
      run_dir.RunDir(workdir).eval_dir('test') / 'table.md').read_text()


def test_bad_workdirs_name_the_missing_path(tmp_path):
  with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'nope'))):
    evaluator.evaluate_workdir(tmp_path / 'nope')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'empty' / 'config.json'))):
    evaluator.evaluate_workdir(tmp_path / 'empty')
  run_dir.RunDir(tmp_path / 'empty').write_config(tiny_train_config())
  with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'empty' / 'model'))):
    evaluator.evaluate_workdir(tmp_path / 'empty')


def test_subset_parsing_and_selection():
  assert evaluator.parse_subsets('ECG; ecg,thx ;PPG+THX;all;') == [('ECG',), ('ECG', 'THX'),
                                                                   ('PPG', 'THX'), ()]
  signals = ('ECG', 'ABD', 'THX')
  assert evaluator.select_subsets([(), ('PPG',), ('ECG',)], [('THX', 'ECG'), ('ECG',)],
                                  signals) == [(), ('ECG',), ('THX', 'ECG')]
  with pytest.raises(ValueError, match='PPG'):
    evaluator.select_subsets([], [('PPG',)], signals)


@pytest.mark.slow
def test_command_line(run):
  workdir, _ = run
  res = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.evaluate', f'--workdir={workdir}', '--split=validation',
      '--subsets=ECG,ABD', '--datasets=synthetic/demo_shhs', '--batch_size=1'
  ],
                       cwd=REPO_ROOT,
                       capture_output=True,
                       text=True,
                       timeout=300)
  assert res.returncode == 0, res.stderr[-3000:]
  assert '| ECG + ABD |' in res.stdout
  out = json.loads((run_dir.RunDir(workdir).eval_dir('validation') / 'metrics.json').read_text())
  assert list(out['results']) == ['synthetic/demo_shhs']
  assert out['results']['synthetic/demo_shhs']['ECG+ABD']['nights'] == 2
