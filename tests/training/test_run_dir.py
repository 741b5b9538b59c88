"""The run directory's layout has one home (core/run_dir.py), used by training and evaluation."""

from __future__ import annotations

import ast
import pathlib

import pytest
from ml_collections import ConfigDict

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import run_dir
from wav2sleep_jax.training import demo_data
from tests.train_testutil import tiny_train_config

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_NAMES = {
    run_dir.CONFIG_FILE, run_dir.METRICS_FILE, run_dir.CHECKPOINTS_DIR, run_dir.BEST_DIR,
    run_dir.LOCK_FILE
}
# Not yet moved to RunDir (inference/ is another change's): WORKDIR/model and metrics.json.
_PENDING = set()


def test_layout_names_are_spelt_in_run_dir_only():
  found = []
  for path in sorted((_ROOT / 'wav2sleep_jax').rglob('*.py')):
    rel = path.relative_to(_ROOT).as_posix()
    if rel in _PENDING or rel == 'wav2sleep_jax/core/run_dir.py':
      continue
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Constant) and node.value in _NAMES:
        found.append(f'{rel}:{node.lineno} {node.value!r}')
  assert not found, found


def test_paths_and_the_data_dir(tmp_path):
  folder = run_dir.RunDir(tmp_path)
  assert folder.config_file == tmp_path / 'config.json'
  assert folder.eval_dir('test') == tmp_path / 'eval' / 'test'
  assert not folder.has_run()
  (folder.checkpoints / '3').mkdir(parents=True)
  assert folder.has_run()
  assert folder.data_dir(ConfigDict({'data_dir': '', 'prepare': ''})) is None
  assert folder.data_dir(ConfigDict({
      'data_dir': '',
      'prepare': 'synthetic'
  })) == str(tmp_path / 'data')
  assert folder.data_dir(ConfigDict({'data_dir': '/d'}), override='/o') == '/o'
  config = ConfigDict({'data_dir': '', 'prepare': 'synthetic', 'synthetic_cohorts': []})
  assert demo_data.prepare(config, tmp_path) == folder.data_dir(config)  # One derivation.


def test_config_round_trip_and_errors(tmp_path):
  folder = run_dir.RunDir(tmp_path)
  with pytest.raises(FileNotFoundError, match='config.json not found'):
    folder.read_config()
  config = tiny_train_config()
  folder.write_config(config)
  assert folder.read_config().to_json(sort_keys=True) == config.to_json_best_effort(sort_keys=True)
  assert not list(tmp_path.glob('*.tmp-*'))
  folder.config_file.write_text('[1]')
  with pytest.raises(cli.InputError, match='not a valid run config'):
    folder.read_config()
  with pytest.raises(FileNotFoundError, match='does not exist'):
    run_dir.RunDir(tmp_path / 'nope').read_config()


def test_trained_step_is_the_best_step_else_the_last(tmp_path):
  folder = run_dir.RunDir(tmp_path)
  assert folder.trained_step() == 0
  folder.write_metrics({'step': 9, 'best_step': 6})
  assert folder.trained_step() == 6
  folder.write_metrics({'step': 9, 'best_step': -1})
  assert folder.trained_step() == 9
