"""`benchmark predict`: synthetic EDF folders staged end to end (tiny model)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wav2sleep_jax.benchmarks import predict_bench
from wav2sleep_jax.inference import model as model_lib
from tests.conftest import REPO_ROOT
from tests.model_testutil import random_params, tiny_config


def test_night_lengths():
  assert predict_bench.night_hours(4, 8.0, 'varied') == [8.0, 8.5, 9.0, 9.5]
  assert predict_bench.night_hours(3, 8.0, 'fixed') == [8.75] * 3
  with pytest.raises(ValueError, match='lengths must be one of'):
    predict_bench.night_hours(3, 8.0, 'random')


def test_benchmark_reports_rate_compilations_and_time_split(tmp_path):
  cfg = tiny_config(signals=('ECG', 'THX'))
  model = model_lib.StagingModel(cfg, random_params(cfg, seed=0))
  result = predict_bench.benchmark(
      model,
      str(tmp_path),
      cohort='shhs',
      nights=3,
      hours=0.05,
      lengths='varied',
      bucket_hours=0.1,
      batch_size=4,
      workers=1,
      spread=0.1)
  assert result['nights'] == 3 and result['skipped'] == 0
  assert result['night_hours'] == pytest.approx([0.05, 0.1, 0.15])
  # 6, 12 and 18 epochs -> buckets of 12 and 24 epochs: 2 forward passes, never 3.
  assert result['forward_calls'] == 2 and result['compilations'] <= 2
  assert result['nights_per_min'] == pytest.approx(180 / result['seconds'])
  assert result['read_s_total'] > 0 and result['inference_s_total'] > 0
  assert 0 < result['efficiency'] and result['peak_host_rss_bytes'] > 0
  assert len(list((tmp_path / 'out').rglob('*.preds.csv'))) == 3


@pytest.mark.slow
def test_cli_prints_json(tmp_path):
  out = tmp_path / 'predict.json'
  proc = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.benchmark', 'predict', '--nights=2', '--hours=0.05',
      '--lengths=fixed', '--cohort=shhs', '--signals=ECG,THX',
      '--config=wav2sleep_jax/configs/default.py', '--config.model.feature_dim=8',
      '--config.model.encoder_initial_channels=2', '--config.model.encoder_max_channels=4',
      '--config.model.mixer_heads=2', '--config.model.mixer_ff_dim=16', f'--json={out}'
  ],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(out.read_text())
  assert result['benchmark'] == 'predict' and result['nights'] == 2
  assert result['night_hours'] == [0.8, 0.8] and result['compilations'] >= 1
  assert result['machine']['cpu']
