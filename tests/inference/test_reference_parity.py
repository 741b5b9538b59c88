"""Same hypnogram as the reference's own `predict_on_folder` (../shared/fixtures/reference_predict).

Parity (the fixture's README): on the night's epochs, `Pred` equals the reference's on
every epoch whose reference top-two logit margin is >= 1e-3 and on >= 99.5% of all
epochs; probabilities within 1e-3 of softmax(reference logits); and where the fixture
holds the reference's model inputs, ours equal them.
"""

from __future__ import annotations

import csv
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import wav2sleep_jax
from wav2sleep_jax.core import cli
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import runner
from wav2sleep_jax.psg import input_files
from tests import hub_server
from tests.conftest import REPO_ROOT, require_shared

KINDS = {'cardiorespiratory': 'edf', 'eog': 'edf_eog'}


def _fixture(*parts: str) -> pathlib.Path:
  return require_shared('fixtures', 'reference_predict', *parts)


def _read_preds(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray | None]:
  """(Pred column, probabilities [S, K] or None) of a .preds.csv."""
  with open(path, newline='') as f:
    rows = list(csv.DictReader(f))
  pred = np.array([int(r['Pred']) for r in rows])
  prob_keys = [k for k in rows[0] if k.startswith('prob_')]
  probs = np.array([[float(r[k]) for k in prob_keys] for r in rows]) if prob_keys else None
  return pred, probs


def assert_parity(night: str, kind: str, ours_pred: np.ndarray, ours_probs: np.ndarray):
  expected = np.load(_fixture(f'expected_{kind}', f'{night}.npz'))['logits']
  ref_pred, _ = _read_preds(_fixture(f'expected_{kind}', f'{night}.preds.csv'))
  epochs = len(ours_pred)
  logits = expected[:epochs]
  top2 = np.sort(logits, axis=-1)[:, -2:]
  clear = top2[:, 1] - top2[:, 0] >= 1e-3
  agree = ours_pred == ref_pred[:epochs]
  assert agree[clear].all(), f'{night}: {np.flatnonzero(~agree & clear)[:10]} disagree'
  assert agree.mean() >= 0.995
  np.testing.assert_allclose(ours_probs, model_lib.softmax(logits), atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize('kind', list(KINDS))
def test_predict_folder_gives_the_reference_hypnogram(kind, tmp_path):
  model = wav2sleep_jax.load_model(_fixture(f'model_{kind}'))
  assert model.preprocessing == prep_lib.reference(10)
  edfs = _fixture(KINDS[kind])
  result = runner.predict_files(model, edfs, tmp_path, progress=False, formats=('csv',))
  nights = sorted(p.stem for p in edfs.glob('*.edf'))
  assert list(result.predicted) == nights and not result.skipped
  with open(tmp_path / 'summary.csv', newline='') as f:
    summary = {r['night']: r for r in csv.DictReader(f)}
  for night in nights:
    pred, probs = _read_preds(tmp_path / f'{night}.preds.csv')
    # Rows are the night's whole epochs (at most the 10-h grid), not the grid.
    edf_hours = float(summary[night]['hours']) + float(summary[night]['hours_not_staged'])
    assert len(pred) == min(int(round(edf_hours * 120)), 1200)
    assert_parity(night, kind, pred, probs)


@pytest.mark.parametrize('kind,night', [('cardiorespiratory', 'long_low_rate'), ('eog', 'eog_0')])
def test_model_inputs_equal_the_reference_inputs(kind, night):
  expected = np.load(_fixture(f'expected_{kind}', f'{night}.npz'))
  model = wav2sleep_jax.load_model(_fixture(f'model_{kind}'))
  read = input_files.read_input(
      _fixture(KINDS[kind], f'{night}.edf'),
      model.signals,
      with_labels=False,
      preprocessing=model.preprocessing)
  x, problems = runner.checked_night(model, read.signals)
  assert not problems
  for name in model.signals:
    if np.isfinite(expected[name]).all():
      np.testing.assert_allclose(x[name], expected[name], rtol=0, atol=2e-5)
    else:  # -inf: absent in the reference, absent here.
      assert name not in x


@pytest.mark.slow
def test_a_night_longer_than_the_grid_is_reported_and_max_hours_stages_it(tmp_path):
  model = wav2sleep_jax.load_model(_fixture('model_cardiorespiratory'))
  edf = _fixture('edf', 'long_low_rate.edf')
  result = runner.predict_files(model, edf, tmp_path / 'ten', progress=False, formats=('csv',))
  (entry,) = [e for e in result.report.entries if e.action == 'not staged']
  assert '0.40 h (48 epochs) are not staged' in entry.reason
  prediction = runner.predict_edf(model, edf, max_hours=14, with_labels=False)
  assert prediction.num_epochs == 1248  # 10.4 h, all staged on a 14-h grid.


@pytest.mark.slow
def test_predict_raw_takes_the_reference_units_from_mne():
  mne = pytest.importorskip('mne')
  model = wav2sleep_jax.load_model(_fixture('model_cardiorespiratory'))
  raw = mne.io.read_raw_edf(_fixture('edf', 'mesa_style.edf'), preload=True, verbose='error')
  prediction = wav2sleep_jax.predict_raw(model, raw)
  assert prediction.num_epochs == 384
  assert_parity('mesa_style', 'cardiorespiratory', prediction.logits_SK.argmax(-1),
                prediction.probabilities_SK)


def _hub_predict(endpoint,
                 hf_home,
                 model: str,
                 edfs: pathlib.Path,
                 out: pathlib.Path,
                 offline: bool = False,
                 *args: str) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if not k.startswith('HF_')}
  env |= hub_server.client_env(endpoint, hf_home, offline=offline)
  return subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.predict', f'--model={model}', f'--input={edfs}',
      f'--output={out}', '--formats=csv', *args
  ],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=600,
                        env=env)


@pytest.mark.slow
@pytest.mark.parametrize('kind,repo', [('cardiorespiratory', 'joncarter/wav2sleep'),
                                       ('eog', 'joncarter/wav2sleep-eog')])
def test_published_model_from_the_hub_gives_the_reference_hypnogram(kind, repo, tmp_path):
  """`predict --model=hf://...` as a new user runs it, then again offline from the cache."""
  folder = _fixture(f'model_{kind}')
  edfs = _fixture(KINDS[kind])
  hf_home = tmp_path / 'hf'
  with hub_server.FakeHub() as server:
    commit = server.add_repo(repo, {
        **{
            p.name: p.read_bytes() for p in folder.iterdir()
        }, 'README.md': b'# wav2sleep\n'
    })
    online = _hub_predict(server.endpoint, hf_home, f'hf://{repo}', edfs, tmp_path / 'online')
  assert online.returncode == 0, online.stderr[-3000:]
  offline = _hub_predict(None, hf_home, f'hf://{repo}', edfs, tmp_path / 'offline', True)
  assert offline.returncode == 0, offline.stderr[-3000:]
  for night in sorted(p.stem for p in edfs.glob('*.edf')):
    pred, probs = _read_preds(tmp_path / 'online' / f'{night}.preds.csv')
    assert_parity(night, kind, pred, probs)
    assert (tmp_path / 'offline' /
            f'{night}.preds.csv').read_bytes() == (tmp_path / 'online' /
                                                   f'{night}.preds.csv').read_bytes()
  for run in ('online', 'offline'):
    with open(tmp_path / run / 'summary.csv', newline='') as f:
      assert {r['model_commit'] for r in csv.DictReader(f)} == {f'{repo}@{commit}'}


@pytest.mark.slow
def test_another_preprocessing_is_warned_about_and_max_hours_is_for_reference_only(tmp_path):
  edf = _fixture('edf', 'shhs_style.edf')
  env = dict(os.environ)
  run = lambda *args: subprocess.run(
      [sys.executable, '-m', 'wav2sleep_jax.predict', f'--input={edf}', '--formats=csv', *args],
      cwd=REPO_ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env=env)
  model = _fixture('model_cardiorespiratory')
  result = run(f'--model={model}', f'--output={tmp_path / "ours"}', '--preprocessing=wav2sleep_jax')
  assert result.returncode == 0, result.stderr[-3000:]
  assert ('with wav2sleep_jax preprocessing, but its weights were trained with reference '
          '(10-h grid) preprocessing') in result.stderr
  result = run(f'--model={model}', f'--output={tmp_path / "ref"}', '--preprocessing=wav2sleep_jax',
               '--max_hours=12')
  assert result.returncode == cli.EXIT_USAGE
  (line,) = result.stderr.strip().splitlines()
  assert line.startswith('error: max_hours=12 applies to') and 'never crops' in line


def test_signals_asked_for_set_the_reference_join_order():
  """The reference's tool joins the grids in the order of its `signals` argument."""
  edf = _fixture('edf', 'mesa_style.edf')
  prep = prep_lib.reference()
  model_order = input_files.read_input(edf, ('THX', 'ECG'), with_labels=False, preprocessing=prep)
  asked = input_files.read_input(
      edf, ('THX', 'ECG'),
      with_labels=False,
      preprocessing=prep,
      reference_join_order=('ECG', 'THX'))
  np.testing.assert_array_equal(asked.signals['THX'], model_order.signals['THX'])
  ecg_first, thx_first = asked.signals['ECG'], model_order.signals['ECG']
  np.testing.assert_array_equal(thx_first[:4], ecg_first[3:16:4])  # THX's times first.
  np.testing.assert_array_equal(np.sort(thx_first), np.sort(ecg_first))
  assert runner.read_options(prep, ['ECG', 'THX'])['reference_join_order'] == ('ECG', 'THX')
  assert runner.read_options(prep_lib.Preprocessing(), ['ECG'])['reference_join_order'] is None
