"""The data benchmark runs on the dummy MESA nights and a built copy of them."""

import pathlib

import pytest

import tensorflow_datasets as tfds

from tfds_builders.mesa import mesa_dataset_builder
from wav2sleep_jax.benchmarks import data_bench

_MESA = pathlib.Path(__file__).resolve().parents[2] / 'tfds_builders/mesa/dummy_data'


@pytest.mark.slow
def test_run_data_benchmark(tmp_path):
  builder = mesa_dataset_builder.Builder(data_dir=str(tmp_path))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(_MESA)),
      file_format='array_record')
  result = data_bench.run_data_benchmark(
      str(_MESA),
      'mesa',
      data_dir=str(tmp_path),
      dataset='mesa',
      read_repeats=2,
      pipeline_epochs=20,
      pipeline_batches=2,
      worker_counts=(0, 1))
  assert result['build_nights'] == 3 and result['build_nights_skipped'] == 0
  assert result['build_nights_per_min_per_core'] > 0
  assert result['read_nights'] == 2 * builder.info.splits['train'].num_examples
  assert result['read_nights_per_s'] > 0
  # The training pipeline ran in-process and with a Grain worker process.
  assert [r['workers'] for r in result['pipeline']] == [0, 1]
  assert all(r['nights_per_s'] > 0 for r in result['pipeline'])
  # 20 epochs of ECG+PPG (1024 samples/epoch) and THX+ABD (256), float32.
  assert abs(result['pipeline'][0]['mb_per_night'] - 20 * 2560 * 4 / 1e6) < 1e-9
  workers = result['pipeline_workers_for']['100']
  assert workers == data_bench.pipeline_workers_for(100.0, result['pipeline']) >= 1


def test_pipeline_workers_for():
  runs = [{
      'workers': 0,
      'nights_per_s_per_worker': 50.0
  }, {
      'workers': 2,
      'nights_per_s_per_worker': 30.0
  }]
  assert data_bench.pipeline_workers_for(100.0, runs) == 4
  assert data_bench.pipeline_workers_for(30.0, runs) == 1
