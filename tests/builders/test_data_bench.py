"""The data benchmark runs on the dummy MESA nights and a built copy of them."""

import pathlib

import tensorflow_datasets as tfds

from tfds_builders.mesa import mesa_dataset_builder
from wav2sleep_jax.benchmarks import data_bench

_MESA = pathlib.Path(__file__).resolve().parents[2] / 'tfds_builders/mesa/dummy_data'


def test_run_data_benchmark(tmp_path):
  builder = mesa_dataset_builder.Builder(data_dir=str(tmp_path))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(_MESA)),
      file_format='array_record')
  result = data_bench.run_data_benchmark(str(_MESA), 'mesa', data_dir=str(tmp_path),
                                         dataset='mesa', read_repeats=2)
  assert result['build_nights'] == 3 and result['build_nights_skipped'] == 0
  assert result['build_nights_per_min_per_core'] > 0
  assert result['read_nights'] == 2 * builder.info.splits['train'].num_examples
  assert result['read_nights_per_s'] > 0
