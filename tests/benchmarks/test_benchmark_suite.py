"""launch/gpu_benchmark.sh and the benchmark suite behind it, exercised on CPU."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import REPO_ROOT

_SCRIPT = str(REPO_ROOT / 'launch' / 'gpu_benchmark.sh')
_TINY = [
    '--', '--signals=THX', '--config=wav2sleep_jax/configs/default.py',
    '--config.model.feature_dim=8', '--config.model.encoder_initial_channels=2',
    '--config.model.encoder_max_channels=4', '--config.model.mixer_heads=2',
    '--config.model.mixer_ff_dim=16', '--config.model.mixer_layers=1',
    '--config.model.sequence_blocks=1', '--config.model.sequence_dilations=(1,)', '--repeats=1',
    '--warmup=0', '--max_batch=2'
]


def _run(*args):
  return subprocess.run(['bash', _SCRIPT, *args],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=600)


def test_dry_run_lists_every_benchmark(tmp_path):
  proc = _run(f'--out={tmp_path}', '--dry_run')
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.strip().splitlines()
  kinds = [line.split('wav2sleep_jax.benchmark ')[1].split()[0] for line in lines]
  assert kinds == ['train', 'infer', 'memory'] * 2 + ['data']
  assert sum('--dtype=bfloat16' in line for line in lines) == 3
  assert not list(tmp_path.iterdir())  # Nothing run, nothing written.


def test_refuses_without_the_accelerator(tmp_path):
  proc = _run(f'--out={tmp_path / "out"}')
  assert proc.returncode == 2
  assert proc.stderr.strip().startswith('error: no gpu device visible to JAX')
  assert len(proc.stderr.strip().splitlines()) == 1
  assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_cpu_run_writes_json_and_table(tmp_path):
  proc = _run(f'--out={tmp_path}', '--platform=cpu', '--dtypes=float32', '--hours=0.05',
              '--batch=2', '--data_nights=0', *_TINY)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  suite = json.loads((tmp_path / 'suite.json').read_text())
  assert set(suite['results']) == {'train_float32', 'infer_float32', 'memory_float32'}
  assert suite['results']['train_float32']['config']['batch'] == 2
  table = (tmp_path / 'table.md').read_text()
  assert '| train | float32 |' in table and '| infer | float32 |' in table
  assert 'largest batch' in table and 'Failed' not in table
