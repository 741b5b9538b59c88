"""Open-dataset builds: each dataset's bad inputs are skip-report rows, good records are kept
with their labels, splits are by participant."""

from __future__ import annotations

import csv
import dataclasses
import pathlib

import edfio
import numpy as np
import pytest
import tensorflow_datasets as tfds
import wfdb as wfdb_pkg

from wav2sleep_jax import synthetic
from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import cohorts
from wav2sleep_jax.psg import splits
from tfds_builders.cinc2018 import cinc2018_dataset_builder
from tfds_builders.hmc import hmc_dataset_builder
from tfds_builders.slpdb import slpdb_dataset_builder
from tfds_builders.ucddb import ucddb_dataset_builder

BUILDERS = {
    'cinc2018': cinc2018_dataset_builder.Builder,
    'hmc': hmc_dataset_builder.Builder,
    'ucddb': ucddb_dataset_builder.Builder,
    'slpdb': slpdb_dataset_builder.Builder
}
_ALL_TRAIN = nsrr_builder.NsrrConfig(
    name='defects', signals=channels_lib.SIGNAL_NAMES, split_sizes=(1, 0, 0))
HOURS = 0.05  # 6 epochs.
GOOD = (0, 1)
# Night index -> (defect, stage, text in the reason); every one skips the night.
EXPECTED = {
    'cinc2018': {
        2: ('missing signal', 'wfdb', 'signal file missing'),
        3: ('length mismatch', 'wfdb', 'samples per signal, the header'),
        4: ('unknown string', 'annotation', "unknown annotation 'N4'"),
        5: ('no stage notes', 'annotation', 'no stage notes')
    },
    'slpdb': {
        2: ('missing signal', 'wfdb', 'signal file missing'),
        3: ('length mismatch', 'wfdb', 'samples per signal, the header'),
        4: ('unknown string', 'annotation', "unknown stage 'X9'"),
        5: ('no stage notes', 'annotation', 'no stage annotations')
    },
    'hmc': {
        2: ('missing signal', 'edf', 'No such file'),
        3: ('length mismatch', 'edf', 'truncated EDF'),
        4: ('unknown string', 'annotation', "unknown annotation 'Sleep stage 4'"),
        5: ('no stage notes', 'annotation', 'no stage annotations')
    },
    'ucddb': {
        2: ('missing signal', 'edf', 'No such file'),
        3: ('length mismatch', 'edf', 'truncated EDF'),
        4: ('unknown string', 'annotation', "unknown stage 'S1'"),
        5: ('no stage notes', 'annotation', 'no stage lines')
    },
}


def _wrann(path: pathlib.Path, notes):
  wfdb_pkg.wrann(
      path.stem,
      path.suffix[1:],
      np.array([s for s, _ in notes]),
      symbol=['"'] * len(notes),
      aux_note=[a for _, a in notes],
      write_dir=str(path.parent))


def _hmc(path: pathlib.Path, texts):
  edfio.Edf([],
            annotations=[
                edfio.EdfAnnotation(30.0 * i, 30.0, t)
                if t.startswith('Sleep') else edfio.EdfAnnotation(0.0, None, t)
                for i, t in enumerate(texts)
            ]).write(str(path))


def _break(cohort: str, defect: str, paths: dict[str, str]) -> None:
  """Applies one defect to a written record."""
  signal = pathlib.Path(paths['signal'])
  data = {'cinc2018': 'mat', 'slpdb': 'dat'}.get(cohort)
  data = pathlib.Path(paths[data]) if data else signal
  scoring = pathlib.Path(
      next(v for k, v in paths.items() if k in ('arousal', 'st', 'sleepscoring', 'stage')))
  if defect == 'missing signal':
    data.unlink()
  elif defect == 'length mismatch':
    data.write_bytes(data.read_bytes()[:-4000])
  elif cohort in ('cinc2018', 'slpdb'):
    unknown = 'N4' if cohort == 'cinc2018' else 'X9'
    _wrann(scoring, [(1, 'W'), (6000, unknown)] if defect == 'unknown string' else
           [(1, '(resp_hypopnea'), (600, 'resp_hypopnea)')] if cohort == 'cinc2018' else [(1, '')])
  elif cohort == 'hmc':
    _hmc(scoring,
         ['Sleep stage W', 'Sleep stage 4'] if defect == 'unknown string' else ['Lights off'])
  else:
    scoring.write_text('0\n2\nS1\n' if defect == 'unknown string' else '\n')


def write_manual_dir(cohort: str, root: pathlib.Path) -> dict[int, str]:
  """Good records and one record per defect; returns index -> record id."""
  ids = {}
  for index in (*GOOD, *EXPECTED[cohort]):
    night = synthetic.generate_night(cohort, seed=0, night_index=index + 20, hours=HOURS)
    keep = {
        k: c
        for k, c in night.channels.items()
        if c.source in ('ECG', 'THX', 'ABD', 'EOG-L', 'EOG-R')
    }
    night = dataclasses.replace(
        night,
        channels=keep,
        stage_codes=np.array([0, 1, 2, 3, 5, 2], np.int8),
        labels=np.array([0, 1, 2, 3, 4, 2], np.int8))
    paths = synthetic.write_night(night, str(root))
    if index in EXPECTED[cohort]:
      _break(cohort, EXPECTED[cohort][index][0], paths)
    ids[index] = night.record_id
  return ids


@pytest.mark.parametrize('cohort', sorted(BUILDERS))
def test_bad_records_are_skip_report_rows(cohort, tmp_path):
  ids = write_manual_dir(cohort, tmp_path / 'manual' / cohort)
  builder = BUILDERS[cohort](data_dir=str(tmp_path / 'data'), config=_ALL_TRAIN)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(tmp_path / 'manual')),
      file_format='array_record')
  with open(f'{builder.data_dir}/skipped.csv', newline='') as f:
    rows = [r for r in csv.DictReader(f) if r['action'] == 'night skipped']
  prefix = '' if cohort == 'ucddb' else f'{cohort}-'
  for index, (defect, stage, reason) in EXPECTED[cohort].items():
    rid = prefix + ids[index]
    match = [r for r in rows if r['record_id'] == rid]
    assert len(match) == 1 and match[0]['stage'] == stage and reason in match[0]['reason'], (defect,
                                                                                             match)
    assert not match[0]['path'].startswith('/')  # Relative to the dataset folder.
  source = builder.as_data_source()['train']
  examples = {source[i]['record_id'].decode(): source[i] for i in range(len(source))}
  assert sorted(examples) == sorted(prefix + ids[i] for i in GOOD)
  for example in examples.values():
    np.testing.assert_array_equal(example['labels'], [0, 1, 2, 3, 4, 2])
    assert example['cohort'].decode() == cohort


def test_slpdb_records_of_one_subject_share_a_split():
  rids = [
      'slpdb-slp01a', 'slpdb-slp01b', 'slpdb-slp02a', 'slpdb-slp02b', 'slpdb-slp03', 'slpdb-slp04',
      'slpdb-slp14'
  ]
  assigned = splits.assign_splits(rids, (12, 2, 2), salt='slpdb')
  where = {r: s for s, ids in assigned.items() for r in ids}
  assert where['slpdb-slp01a'] == where['slpdb-slp01b']
  assert where['slpdb-slp02a'] == where['slpdb-slp02b']
  assert splits.participant_id('cinc2018-tr03-0005') != splits.participant_id('cinc2018-tr04-0005')


def test_cinc2018_test_set_records_are_not_listed(tmp_path):
  (tmp_path / 'test' / 'te07-0001').mkdir(parents=True)
  (tmp_path / 'test' / 'te07-0001' / 'te07-0001.hea').write_text('te07-0001 1 200 6000\n')
  (tmp_path / 'training' / 'tr07-0001').mkdir(parents=True)
  (tmp_path / 'training' / 'tr07-0001' / 'tr07-0001.arousal').write_bytes(b'\0\0')
  found = cohort_files.find_nights(tmp_path, cohorts.get('cinc2018'))
  assert [(n.record_id, n.edf, n.annotations) for n in found
         ] == [('cinc2018-tr07-0001', 'training/tr07-0001/tr07-0001.hea',
                (('cinc2018_arousal', 'training/tr07-0001/tr07-0001.arousal'),))]
