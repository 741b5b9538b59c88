"""Workdir lock, config-change check and checkpoint fallback (no training: fast)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import pytest

from wav2sleep_jax.core import run_dir
from wav2sleep_jax.training import checkpoints
from wav2sleep_jax.training import workdir_guard
from tests.conftest import REPO_ROOT
from tests.train_testutil import tiny_train_config


def _dead_pid() -> int:
  proc = subprocess.Popen([sys.executable, '-c', 'pass'])
  proc.wait()
  return proc.pid


def _write_lock(workdir: pathlib.Path, **holder) -> pathlib.Path:
  path = workdir / run_dir.LOCK_FILE
  path.write_text(json.dumps({'host': socket.gethostname(), 'started': 'earlier', **holder}))
  return path


def test_lock_is_exclusive_and_released_on_exception(tmp_path):
  with pytest.raises(KeyError):
    with workdir_guard.WorkdirLock(tmp_path) as lock:
      holder = json.loads(lock.path.read_text())
      assert holder['pid'] == os.getpid() and holder['host'] == socket.gethostname()
      with pytest.raises(
          workdir_guard.WorkdirLockedError,
          match=f'in use by another trainer \\(pid {os.getpid()} on host'):
        workdir_guard.WorkdirLock(tmp_path).acquire()
      raise KeyError('boom')
  assert not (tmp_path / run_dir.LOCK_FILE).exists()
  with workdir_guard.WorkdirLock(tmp_path):  # Free again.
    pass


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
  _write_lock(tmp_path, pid=_dead_pid())
  with workdir_guard.WorkdirLock(tmp_path) as lock:
    assert json.loads(lock.path.read_text())['pid'] == os.getpid()
  assert 'stale lock' in caplog.text


@pytest.mark.parametrize(
    'holder',
    [
        {
            'pid': os.getppid()
        },  # Alive (even without its flock: conservative).
        {
            'pid': 1,
            'host': 'another-host'
        },  # Cannot be checked from here.
    ])
def test_lock_of_a_live_or_remote_holder_is_refused(tmp_path, holder):
  path = _write_lock(tmp_path, **holder)
  before = path.read_text()
  with pytest.raises(workdir_guard.WorkdirLockedError, match=f'pid {holder["pid"]} on host'):
    workdir_guard.WorkdirLock(tmp_path).acquire()
  assert path.read_text() == before


@pytest.mark.slow
def test_sigterm_releases_the_lock(tmp_path):
  code = ('import sys, time; sys.path.insert(0, sys.argv[1])\n'
          'from wav2sleep_jax.training import workdir_guard as g\n'
          'with g.WorkdirLock(sys.argv[2]):\n'
          '  print("locked", flush=True)\n'
          '  time.sleep(60)\n')
  proc = subprocess.Popen(
      [sys.executable, '-c', code, str(REPO_ROOT),
       str(tmp_path)],
      stdout=subprocess.PIPE,
      text=True)
  assert proc.stdout.readline().strip() == 'locked'
  assert (tmp_path / run_dir.LOCK_FILE).exists()
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=30) == 128 + signal.SIGTERM
  assert not (tmp_path / run_dir.LOCK_FILE).exists()


@pytest.mark.slow
def test_racing_trainers_on_a_stale_lock_one_wins(tmp_path):
  _write_lock(tmp_path, pid=_dead_pid())
  code = ('import sys, time; sys.path.insert(0, sys.argv[1])\n'
          'from wav2sleep_jax.training import workdir_guard as g\n'
          'try:\n'
          '  with g.WorkdirLock(sys.argv[2]):\n'
          '    print("locked", flush=True); time.sleep(3)\n'
          'except g.WorkdirLockedError:\n'
          '  print("refused")\n')
  procs = [
      subprocess.Popen([sys.executable, '-c', code,
                        str(REPO_ROOT), str(tmp_path)],
                       stdout=subprocess.PIPE,
                       text=True) for _ in range(4)
  ]
  outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
  assert outcomes == ['locked', 'refused', 'refused', 'refused']
  assert not (tmp_path / run_dir.LOCK_FILE).exists()


def test_config_differences_name_refused_fields_only():
  old = workdir_guard.config_record(tiny_train_config())
  new_config = tiny_train_config(max_steps=99, learning_rate=1.0)
  new_config.model.feature_dim = 32
  new_config.model.remat = not new_config.model.remat
  diff = workdir_guard.config_differences(old, workdir_guard.config_record(new_config))
  assert diff == {'learning_rate': (old['learning_rate'], 1.0), 'model.feature_dim': (16, 32)}
  del old['seed']  # A field the stored run does not have.
  assert workdir_guard.config_differences(old, workdir_guard.config_record(
      tiny_train_config()))['seed'] == ('<absent>', 0)


def test_model_fields_missing_from_an_older_config_mean_their_defaults():
  old = workdir_guard.config_record(tiny_train_config())
  for field in ('dropout', 'mixer_norm_first', 'sequence_causal', 'encoder_channels'):
    del old['model'][field]  # Written before the model section listed every field.
  assert not workdir_guard.config_differences(old, workdir_guard.config_record(tiny_train_config()))
  changed = tiny_train_config()
  changed.model.dropout = 0.3
  changed.model.sequence_causal = True
  assert workdir_guard.config_differences(old, workdir_guard.config_record(changed)) == {
      'model.dropout': (0.1, 0.3),
      'model.sequence_causal': (None, True)
  }


def test_eval_max_epochs_missing_from_an_older_config_means_whole_nights():
  old = workdir_guard.config_record(tiny_train_config())
  del old['eval_max_epochs']  # Written before the crop was a config field.
  assert not workdir_guard.config_differences(old, workdir_guard.config_record(tiny_train_config()))
  assert workdir_guard.config_differences(
      old, workdir_guard.config_record(tiny_train_config(eval_max_epochs=1200))) == {
          'eval_max_epochs': (0, 1200)
      }


def test_check_config_refuses_accepts_or_starts_afresh(tmp_path):
  run_dir.RunDir(tmp_path).write_config(tiny_train_config())
  stored = run_dir.RunDir(tmp_path).config_file.read_bytes()
  changed = tiny_train_config(train_epochs=4)
  with pytest.raises(
      workdir_guard.ConfigChangedError,
      match=r'in 1 field\(s\) a resume cannot change: train_epochs: 8 -> 4'):
    workdir_guard.check_config(changed, tmp_path, has_run=True)
  assert run_dir.RunDir(tmp_path).config_file.read_bytes() == stored
  assert not workdir_guard.check_config(changed, tmp_path, has_run=False)
  assert not workdir_guard.check_config(changed, tmp_path, True, on_change='accept')
  assert workdir_guard.check_config(changed, tmp_path, True, on_change='new_run')
  (tmp_path / 'checkpoints' / '3').mkdir(parents=True)
  moved = workdir_guard.move_run_aside(tmp_path)
  assert (moved / 'checkpoints' / '3').is_dir() and run_dir.RunDir(moved).config_file.is_file()
  assert not run_dir.RunDir(tmp_path).config_file.exists()


class _FakeManager:

  def __init__(self, folder):
    self.folder, self.reloads = folder, 0

  def all_steps(self):
    return sorted(int(p.name) for p in self.folder.iterdir() if p.name.isdigit())

  def reload(self):
    self.reloads += 1


def _steps(tmp_path, *steps):
  folder = tmp_path / 'checkpoints'
  for step in steps:
    (folder / str(step)).mkdir(parents=True)
    (folder / str(step) / 'data').write_text(f'step {step}')
  return folder, _FakeManager(folder)


def _restore_unless_garbled(folder):

  def restore(step):
    text = (folder / str(step) / 'data').read_text()
    if 'garbled' in text:
      raise ValueError('outer') from OSError(f'DATA_LOSS: {text}\nmore detail')
    return text

  return restore


@pytest.mark.slow
def test_restore_falls_back_and_moves_the_corrupt_step_aside(tmp_path, caplog):
  folder, manager = _steps(tmp_path, 2, 4, 6)
  for step in (4, 6):
    (folder / str(step) / 'data').write_text('garbled')
  assert checkpoints.restore_newest(manager, _restore_unless_garbled(folder),
                                    folder) == (2, 'step 2')
  assert manager.all_steps() == [2] and manager.reloads == 1
  moved = sorted((tmp_path / run_dir.CORRUPT_DIR).iterdir())
  assert [p.name.split('-')[:3] for p in moved] == [['checkpoints', '4', 'corrupt'],
                                                    ['checkpoints', '6', 'corrupt']]
  assert 'OSError: DATA_LOSS: garbled' in (moved[0] / 'REASON.txt').read_text()
  assert 'Checkpoint step 6 in' in caplog.text and 'DATA_LOSS' in caplog.text


@pytest.mark.slow
def test_no_restorable_checkpoint_names_the_folder_and_moves_nothing(tmp_path):
  folder, manager = _steps(tmp_path, 1, 2)
  for step in (1, 2):
    (folder / str(step) / 'data').write_text('garbled')
  with pytest.raises(
      checkpoints.NoRestorableCheckpointError,
      match=f'No checkpoint in {folder} can be restored \\(step 2: OSError'):
    checkpoints.restore_newest(manager, _restore_unless_garbled(folder), folder)
  assert manager.all_steps() == [1, 2]
  # best/: nothing restorable is moved aside and the run goes on.
  assert checkpoints.restore_newest(
      manager, _restore_unless_garbled(folder), folder, move_if_none=True) is None
  assert manager.all_steps() == []
  assert checkpoints.restore_newest(manager, _restore_unless_garbled(folder), folder) is None


def test_workdir_that_is_a_file_is_an_input_error(tmp_path):
  from wav2sleep_jax.training import trainer
  (tmp_path / 'file').write_text('')
  with pytest.raises(NotADirectoryError, match='is not a directory'):
    trainer.train_and_evaluate(tiny_train_config(), tmp_path / 'file')
