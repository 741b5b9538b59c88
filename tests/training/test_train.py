"""Training loop: real steps, learning, sharding equivalence, multi-process, resume."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import wav2sleep_jax
from wav2sleep_jax.core import run_dir
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.evaluation import tables
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.training import checkpoints
from wav2sleep_jax.training import step as step_lib
from wav2sleep_jax.training import trainer
from wav2sleep_jax.training import workdir_guard
from tests.conftest import REPO_ROOT
from tests import train_testutil
from tests.train_testutil import synthetic_nights, tiny_train_config

SIGNALS = ('ECG', 'THX')


def _sources():
  mesa = synthetic_nights('mesa', 4, 0.15)
  shhs = synthetic_nights('shhs', 3, 0.15)
  return {
      'train': {
          'mesa': mesa[:2],
          'shhs': shhs[:2]
      },
      'validation': {
          'mesa': mesa[2:3]
      },
      'test': {
          'mesa': mesa[3:],
          'shhs': shhs[2:]
      }
  }


@pytest.fixture
def sources(monkeypatch):
  """The TFDS datasets replaced by in-memory nights (edit the returned dict to change them)."""
  data = _sources()
  monkeypatch.setattr(trainer, 'load_sources', lambda config, data_dir: data)
  return data


def _config(**overrides):
  c = tiny_train_config(**overrides)
  c.model.signals = SIGNALS
  c.mask_probs = {'ECG': 0.5, 'THX': 0.7}
  return c


def _params(workdir):
  return model_io.load_model_checkpoint(run_dir.RunDir(workdir).model)[1]


@pytest.mark.slow
@pytest.mark.parametrize('max_epochs', [0, 12])
def test_the_training_table_is_what_evaluate_prints(tmp_path, sources, capsys, max_epochs):
  """One evaluation path: training's final table = `evaluate` on the run, long nights too."""
  long = synthetic_nights('shhs', 1, 0.4, seed=5)[0]  # 48 epochs: > train and eval_epochs.
  sources['test']['shhs'] = sources['test']['shhs'] + (long,)
  sources['validation']['shhs'] = (long,)
  result = trainer.train_and_evaluate(
      _config(max_steps=2, eval_every_steps=2, eval_max_epochs=max_epochs), tmp_path)
  printed = capsys.readouterr().out
  evaluated = evaluator.evaluate_workdir(tmp_path, sources=sources['test'], progress=False)
  assert tables.strict_json(evaluated['results']) == tables.strict_json(result['test'])
  assert evaluated['datasets'] == result['test_coverage']
  assert tables.summary_tables(evaluated['results'], evaluated['subsets'], 'test',
                               evaluated['datasets']) in printed
  stored = json.loads(run_dir.RunDir(tmp_path).metrics_file.read_text())
  assert stored['test_coverage'] == evaluated['datasets']
  shhs = evaluated['datasets']['shhs']
  assert shhs['longest_night_epochs'] == 48
  cut = sum(
      int((np.asarray(n['labels'])[max_epochs:] >= 0).sum())
      for n in sources['test']['shhs']) if max_epochs else 0
  assert shhs['cropped_scored_epochs'] == cut
  assert shhs['scored_epochs'] - cut == evaluated['results']['shhs']['all available'][
      'scored_epochs']
  assert (f'cut off by max_epochs={max_epochs}'
          if max_epochs else 'Scored epochs: ') in printed.splitlines()[-1]


@pytest.mark.slow
def test_train_and_evaluate_end_to_end(tmp_path, sources):
  result = trainer.train_and_evaluate(_config(max_steps=4, eval_every_steps=2), tmp_path)
  assert result['status'] == 'finished' and result['step'] == 4
  assert result['best_step'] in (2, 4)
  metrics = json.loads(run_dir.RunDir(tmp_path).metrics_file.read_text())
  assert set(metrics['test']) == {'mesa', 'shhs'}
  all_mesa = metrics['test']['mesa']['all available']
  assert all_mesa['nights'] == 1 and all_mesa['scored_epochs'] > 0
  assert len(all_mesa['confusion_matrix']) == 4
  assert list((run_dir.RunDir(tmp_path).tensorboard).glob('events.out.tfevents.*'))
  model = wav2sleep_jax.load_model(run_dir.RunDir(tmp_path).model)  # The best checkpoint.
  assert model.signals == SIGNALS
  # A finished run does not train again when restarted.
  again = trainer.train_and_evaluate(_config(max_steps=4, eval_every_steps=2), tmp_path)
  assert again['step'] == 4
  # A restart with another model shape is refused before anything is written.
  stored = run_dir.RunDir(tmp_path).config_file.read_bytes()
  other = _config(max_steps=4, eval_every_steps=2)
  other.model.feature_dim = 32
  with pytest.raises(workdir_guard.ConfigChangedError, match='model.feature_dim: 16 -> 32'):
    trainer.train_and_evaluate(other, tmp_path)
  assert run_dir.RunDir(tmp_path).config_file.read_bytes() == stored
  assert not (tmp_path / run_dir.LOCK_FILE).exists()


def _easy_batch(rng, batch, epochs):
  """Labels are written into the signals' amplitude: trivially learnable."""
  labels = rng.integers(0, 4, (batch, epochs))
  ecg = rng.standard_normal((batch, epochs, 1024)) * 0.1 + labels[..., None]
  thx = rng.standard_normal((batch, epochs, 256)) * 0.1 - labels[..., None]
  return {
      'signals': {
          'ECG': ecg.reshape(batch, -1).astype(np.float32),
          'THX': thx.reshape(batch, -1).astype(np.float32)
      },
      'present': np.ones((batch, 2), bool),
      'labels': labels.astype(np.int32),
      'is_night': np.ones(batch, bool)
  }


def _step_fn_and_state(config):
  mcfg = trainer.model_config_from(config)
  params = model_io.init_params(mcfg, config.seed)
  tx = step_lib.make_optimizer(config)
  state = step_lib.create_train_state(config, params, tx)
  step = jax.jit(step_lib.make_train_step(model_io.graphdef(mcfg), config, tx, mcfg.signals))
  return step, state


@pytest.mark.slow
def test_loss_decreases_on_easy_data():
  """A few dozen real steps (masking, dropout, AdamW) fit an easy batch."""
  config = _config(learning_rate=3e-3, warmup_steps=1, polarity_flip_prob=0.0)
  step, state = _step_fn_and_state(config)
  batch = _easy_batch(np.random.default_rng(0), 4, 6)
  losses = []
  for _ in range(30):
    state, m = step(state, batch, jax.random.key(0))
    losses.append(float(m['loss']))
  assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses


@pytest.mark.slow
def test_nan_loss_stops_without_checkpoint(tmp_path, sources):
  bad = dict(sources['train']['mesa'][0])
  bad['signals'] = dict(bad['signals'], ECG=np.full_like(bad['signals']['ECG'], np.inf))
  sources['train'] = {'mesa': (bad,) * 4}
  with pytest.raises(step_lib.NonFiniteLossError, match='stopping without checkpointing'):
    trainer.train_and_evaluate(
        _config(max_steps=3, eval_every_steps=1, batch_size=2, mask_probs={
            'ECG': 0.0,
            'THX': 0.0
        }), tmp_path)
  assert not list(run_dir.RunDir(tmp_path).checkpoints.glob('[0-9]*'))
  assert not (tmp_path / run_dir.LOCK_FILE).exists()  # Released after the error.


@pytest.mark.slow
def test_nan_at_a_quiet_step_is_found_at_the_next_check_and_never_checkpointed(
    tmp_path, sources, monkeypatch):
  """The loop reads the loss only on logging/eval steps; a NaN between them still stops it."""
  real = step_lib.make_train_step

  def nan_at_step_5(*args):
    train_step = real(*args)

    def step(state, batch, rng):
      state, metrics = train_step(state, batch, rng)
      return state, dict(metrics, loss=jnp.where(state.step == 5, jnp.nan, metrics['loss']))

    return step

  monkeypatch.setattr(step_lib, 'make_train_step', nan_at_step_5)
  config = _config(max_steps=9, eval_every_steps=3, log_every_steps=3)
  with pytest.raises(
      step_lib.NonFiniteLossError,
      match=r'at step 5 \(found at step 6\); stopping without checkpointing. '
      r'Last good checkpoint: step 3 in '):
    trainer.train_and_evaluate(config, tmp_path)
  assert sorted(p.name for p in run_dir.RunDir(tmp_path).checkpoints.glob('[0-9]*')) == ['3']
  assert sorted(p.name for p in run_dir.RunDir(tmp_path).best.glob('[0-9]*')) == ['3']


@pytest.mark.slow
def test_resume_matches_uninterrupted_run(tmp_path, sources):
  config = _config(max_steps=6, eval_every_steps=3)
  trainer.train_and_evaluate(config, tmp_path / 'straight')
  interrupted = _config(max_steps=3, eval_every_steps=3)
  trainer.train_and_evaluate(interrupted, tmp_path / 'resumed')
  result = trainer.train_and_evaluate(config, tmp_path / 'resumed')
  assert result['step'] == 6
  straight = jax.tree.leaves(_params(tmp_path / 'straight'))
  resumed = jax.tree.leaves(_params(tmp_path / 'resumed'))
  for a, b in zip(straight, resumed):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


WORKER = REPO_ROOT / 'tests' / 'train_worker.py'


def _run_worker(args, env_extra=None, timeout=600):
  env = dict(os.environ, **(env_extra or {}))
  return subprocess.run([sys.executable, str(WORKER), *args],
                        cwd=REPO_ROOT,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=timeout)


@pytest.mark.slow
def test_eight_devices_give_the_same_loss_as_one(tmp_path):
  losses = {}
  for devices in (1, 8):
    out = tmp_path / f'{devices}.json'
    res = _run_worker(['loss', str(out)],
                      {'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'})
    assert res.returncode == 0, res.stderr[-3000:]
    losses[devices] = json.loads(out.read_text())
  assert losses[8]['devices'] == 8 and losses[1]['devices'] == 1
  np.testing.assert_allclose(losses[8]['losses'], losses[1]['losses'], rtol=1e-4)


@pytest.mark.slow
def test_two_processes_on_localhost(tmp_path):
  import socket
  with socket.socket() as s:
    s.bind(('localhost', 0))
    port = s.getsockname()[1]
  procs = [
      subprocess.Popen([
          sys.executable,
          str(WORKER), 'distributed',
          str(tmp_path / 'run'), f'localhost:{port}',
          str(i)
      ],
                       cwd=REPO_ROOT,
                       stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE,
                       text=True) for i in range(2)
  ]
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  results = [json.loads((tmp_path / 'run' / f'result_{i}.json').read_text()) for i in range(2)]
  assert results[0]['process_count'] == 2 and results[0]['step'] == results[1]['step'] == 2
  assert results[0]['best_val_loss'] == pytest.approx(results[1]['best_val_loss'])
  # Evaluation sharded over the two processes = evaluation in this one process.
  single = evaluator.evaluate_workdir(
      tmp_path / 'run', sources=_sources()['test'], progress=False)['results']
  for name in ('mesa', 'shhs'):
    for subset, s in single[name].items():
      for r in results:
        assert r['eval'][name][subset]['nights'] == s['nights'] > 0
        assert r['eval'][name][subset]['confusion_matrix'] == s['confusion_matrix']


@pytest.mark.slow
def test_sigterm_checkpoints_and_resumes(tmp_path, sources):
  workdir = tmp_path / 'run'
  proc = subprocess.Popen(
      [sys.executable, str(WORKER), 'sigterm', str(workdir)],
      cwd=REPO_ROOT,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True)
  _, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  first = json.loads((workdir / 'first.json').read_text())
  assert first['status'] == 'preempted'
  assert (run_dir.RunDir(workdir).checkpoints / str(first['step'])).is_dir()
  assert not (workdir / run_dir.LOCK_FILE).exists()
  result = trainer.train_and_evaluate(
      _config(max_steps=first['step'] + 2, eval_every_steps=1000), workdir)
  assert result['status'] == 'finished' and result['step'] == first['step'] + 2


def _damage(folder: pathlib.Path, truncate: bool = False):
  """Garbles (or truncates) the array data files of a checkpoint step."""
  files = [p for p in folder.rglob('*') if p.is_file() and p.parent.name == 'd']
  assert files, folder
  for path in files:
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    path.write_bytes(data[:half] if truncate else data[:half] +
                     bytes(b ^ 0x5A for b in data[half:]))


@pytest.mark.slow
def test_corrupt_checkpoints_fall_back_or_stop_with_one_line(tmp_path, sources):
  workdir = tmp_path / 'run'
  trainer.train_and_evaluate(_config(max_steps=2, eval_every_steps=1), workdir)
  best_step = int(next(run_dir.RunDir(workdir).best.glob('[0-9]*')).name)
  _damage(run_dir.RunDir(workdir).checkpoints / '2')
  _damage(run_dir.RunDir(workdir).best / str(best_step), truncate=True)
  result = trainer.train_and_evaluate(_config(max_steps=3, eval_every_steps=1), workdir)
  assert result['status'] == 'finished' and result['step'] == 3  # From step 1.
  moved = sorted(p.name.rsplit('-', 2)[0] for p in (workdir / run_dir.CORRUPT_DIR).iterdir())
  assert moved == [f'best-{best_step}-corrupt', 'checkpoints-2-corrupt']
  reason = next((workdir / run_dir.CORRUPT_DIR).glob('checkpoints-2-*/REASON.txt'))
  assert reason.read_text().startswith('step 2 could not be restored: ')
  # Nothing restorable: one line naming the folder, exit 2, nothing moved.
  steps = sorted(p.name for p in run_dir.RunDir(workdir).checkpoints.glob('[0-9]*'))
  for step in steps:
    _damage(run_dir.RunDir(workdir).checkpoints / step)
  res = _run_worker(['cli', f'--config={WORKER}:4', f'--workdir={workdir}'])
  assert res.returncode == 2, res.stderr[-3000:]
  last = res.stderr.strip().splitlines()[-1]
  assert last.startswith(f'error: No checkpoint in {workdir / "checkpoints"} can be restored '
                         f'(step {steps[-1]}: '), last
  assert 'Traceback' not in res.stderr
  assert sorted(p.name for p in run_dir.RunDir(workdir).checkpoints.glob('[0-9]*')) == steps


@pytest.mark.slow
def test_second_trainer_is_refused_before_building_demo_data(tmp_path):
  with workdir_guard.WorkdirLock(tmp_path):
    res = subprocess.run([
        sys.executable, '-m', 'wav2sleep_jax.train', '--config=wav2sleep_jax/configs/demo.py',
        f'--workdir={tmp_path}'
    ],
                         cwd=REPO_ROOT,
                         capture_output=True,
                         text=True,
                         timeout=300)
  assert res.returncode == 2, res.stderr[-3000:]
  assert res.stderr.strip().splitlines()[-1].startswith(
      f'error: {tmp_path} is in use by another trainer (pid {os.getpid()} on host ')
  assert sorted(p.name for p in tmp_path.iterdir()) == []  # No data, config or lock left.


@pytest.mark.slow
def test_demo_config_trains_on_a_tiny_synthetic_build(tmp_path):
  """The real path: synthetic EDF/XML -> TF-free TFDS build -> tfds.data_source -> Grain."""
  from wav2sleep_jax.configs import demo
  config = demo.get_config()
  config.unlock()
  for i, cohort in enumerate(config.synthetic_cohorts):
    cohort.update(nights=6, hours=0.1, split_sizes=(0.5, 0.25, 0.25))
  config.model.update(**train_testutil.TINY_TRAIN_MODEL)
  config.update(
      train_epochs=8,
      eval_epochs=12,
      batch_size=2,
      eval_batch_size=2,
      max_steps=2,
      eval_every_steps=2,
      eval_subsets=((), ('PPG',)))
  result = trainer.train_and_evaluate(config, tmp_path)
  assert result['status'] == 'finished'
  data_dir = run_dir.RunDir(tmp_path).generated_data
  for name in ('demo_mesa', 'demo_shhs'):
    assert list((data_dir / 'synthetic' / name).glob('*/skipped.csv'))
  table = result['test']
  assert set(table) == {'synthetic/demo_mesa', 'synthetic/demo_shhs'}
  assert table['synthetic/demo_mesa']['PPG']['nights'] >= 1
  assert table['synthetic/demo_shhs']['PPG']['nights'] == 0  # SHHS has no PPG.
  # `python -m wav2sleep_jax.evaluate --workdir` rebuilds data and model from the run alone.
  assert json.loads(run_dir.RunDir(tmp_path).config_file.read_text())['eval_epochs'] == 12
  evaluated = evaluator.evaluate_workdir(tmp_path, subsets=[('ECG',)], progress=False)
  assert evaluated['step'] == result['best_step']
  for name, per_subset in table.items():  # One evaluation path: the same numbers.
    assert list(evaluated['results'][name]) == ['all available', 'PPG', 'ECG']
    for subset, s in per_subset.items():
      assert evaluated['results'][name][subset]['confusion_matrix'] == s['confusion_matrix']
  text = (run_dir.RunDir(tmp_path).eval_dir('test') / 'table.md').read_text()
  assert '| test inputs | demo_mesa | demo_shhs |' in text
  assert list((run_dir.RunDir(tmp_path).eval_dir('test') / 'confusion').glob('*.png'))


class _Bar:

  def __init__(self):
    self.n = 0

  def update(self, k):
    self.n += k


class _Marker:
  """Stands in for a step's output: ready after `polls_left` is_ready() calls."""

  def __init__(self, polls_left):
    self.polls_left = polls_left

  def is_ready(self):
    self.polls_left -= 1
    return self.polls_left < 0


def test_progress_counts_finished_steps_not_dispatched_ones():
  bar = _Bar()
  finished = trainer.FinishedSteps(bar, poll_s=0.001)
  finished.dispatched(_Marker(0))  # Already done when dispatched.
  assert bar.n == 1
  slow = _Marker(3)
  finished.dispatched(slow)
  finished.dispatched(_Marker(0))  # Done, but behind a step still running: in order.
  assert bar.n == 1 and len(finished.pending) == 2
  finished.wait_all()
  assert bar.n == 3 and not finished.pending and slow.polls_left < 0


def test_progress_follows_real_device_arrays():
  bar = _Bar()
  finished = trainer.FinishedSteps(bar, poll_s=0.001)
  f = jax.jit(lambda x: (x @ x).sum())
  for _ in range(4):
    finished.dispatched(f(jnp.ones((64, 64))))
  finished.wait_all()
  assert bar.n == 4
  silent = trainer.FinishedSteps(None)  # Processes without a bar keep nothing.
  silent.dispatched(f(jnp.ones((4, 4))))
  assert not silent.pending
