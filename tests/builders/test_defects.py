"""Every bad-input case ends up in the skip report with its reason; Beam == in-process."""

import csv
import importlib.util
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.builders import defects
from wav2sleep_jax.builders import nsrr_builder
from tfds_builders.mesa import mesa_dataset_builder

_ALL_TRAIN = nsrr_builder.NsrrConfig(name='defects', split_sizes=(1, 0, 0))
_BEAM_OPTIONS = ('runner=FnApiRunner,direct_running_mode=multi_processing,'
                 'direct_num_workers=2')


@pytest.fixture(scope='module')
def manual_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('mesa_defects')
  defects.write_defects(root)
  return root


def _build(manual_dir, data_dir, beam=False):
  builder = mesa_dataset_builder.Builder(data_dir=str(data_dir), config=_ALL_TRAIN)
  download_config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
  if beam:
    beam_lib = tfds.core.lazy_imports.apache_beam
    download_config.beam_options = beam_lib.options.pipeline_options.PipelineOptions(
        flags=[f'--{o}' for o in _BEAM_OPTIONS.split(',')])
  builder.download_and_prepare(download_config=download_config, file_format='array_record')
  return builder


def _examples(builder):
  source = builder.as_data_source()['train']
  return {source[i]['record_id'].decode(): source[i] for i in range(len(source))}


@pytest.fixture(scope='module')
def local_build(manual_dir, tmp_path_factory):
  return _build(manual_dir, tmp_path_factory.mktemp('data'))


def test_skip_report_lists_every_defect(local_build):
  with open(f'{local_build.data_dir}/skipped.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  for index, (defect, stage, reason, action) in defects.EXPECTED.items():
    rid = defects.record_id(index)
    matches = [
        r for r in rows if r['record_id'] == rid and r['stage'] == stage and reason in r['reason']
        and r['action'] == action
    ]
    assert matches, (defect, rid, [r for r in rows if r['record_id'] == rid])
    assert not any(r['path'].startswith('/') for r in rows)  # No local paths.
  for index in defects.GOOD:
    assert not [r for r in rows if r['record_id'] == defects.record_id(index)]
  summary = json.loads(open(f'{local_build.data_dir}/skipped.json').read())['summary']
  assert summary['nights skipped'] == len(defects.EXPECTED) + len(defects.GOOD) - len(defects.KEPT)


def test_kept_nights_and_absent_channels(local_build):
  examples = _examples(local_build)
  assert set(examples) == {defects.record_id(i) for i in defects.KEPT}
  absent = {defects.record_id(i): k for i, k in ((4, 'THX'), (5, 'ABD'), (6, 'PPG'), (7, 'ECG'))}
  for rid, example in examples.items():
    assert example['num_epochs'] == 12
    for key, present in example['present'].items():
      assert present == (absent.get(rid) != key), (rid, key)
      assert example['signals'][key].size == (12 * {
          'ECG': 1024,
          'PPG': 1024,
          'ABD': 256,
          'THX': 256
      }[key] if present else 0)
  shorter = examples[defects.record_id(11)]['labels']
  assert shorter.shape == (12,) and shorter[-1] == -1


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec('apache_beam') is None,
    reason='apache_beam not installed (pip install apache-beam)')
def test_beam_builds_the_same_examples(manual_dir, local_build, tmp_path):
  beam_build = _build(manual_dir, tmp_path, beam=True)
  local, beam = _examples(local_build), _examples(beam_build)
  assert set(local) == set(beam)
  for rid, example in local.items():
    tfds_flat = tfds.core.utils.flatten_nest_dict
    a, b = tfds_flat(example), tfds_flat(beam[rid])
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=f'{rid} {key}')
  read = lambda b: sorted(open(f'{b.data_dir}/skipped.csv').read().splitlines())
  assert read(local_build) == read(beam_build)
