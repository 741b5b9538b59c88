"""The TF-free CLI builds a 20-night mesa-like and a 20-night shhs-like synthetic cohort."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cli_builds_synthetic_cohorts(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(_ROOT))
  for layout, has_ppg in (('mesa', True), ('shhs', False)):
    config = {'name': f'{layout}_20', 'cohort_layout': layout, 'num_nights': 20, 'hours': 0.5}
    subprocess.run([
        sys.executable, '-m', 'tfds_builders.build', 'synthetic', f'--config={json.dumps(config)}',
        f'--data_dir={tmp_path}'
    ],
                   cwd=_ROOT,
                   env=env,
                   check=True,
                   capture_output=True,
                   text=True)
    builder = tfds.builder_from_directory(str(tmp_path / 'synthetic' / config['name'] / '1.0.0'))
    assert {
        s: i.num_examples for s, i in builder.info.splits.items()
    } == {
        'train': 16,
        'validation': 2,
        'test': 2
    }
    source = builder.as_data_source(split='train')
    example = source[0]
    assert example['num_epochs'] == 60
    assert example['present']['PPG'] == has_ppg
    assert example['signals']['ECG'].shape == (60 * 1024,)
    assert (tmp_path / 'synthetic' / config['name'] / '1.0.0' / 'skipped.csv').is_file()
