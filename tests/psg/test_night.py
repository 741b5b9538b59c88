"""`read_night`: label policy, errors that keep their stage and the entries found before them."""

import pathlib
import pickle

import numpy as np
import pytest

from tests import predict_testutil as util
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import night as night_lib

SIGNALS = ('ECG', 'THX')


def test_error_stage_survives_pickling():
  error = pickle.loads(pickle.dumps(errors.AnnotationError('a.xml', 'none', stage='exclusion')))
  assert (error.path, error.reason, error.stage) == ('a.xml', 'none', 'exclusion')
  assert pickle.loads(pickle.dumps(errors.RecordingError('a.edf', 'bad'))).stage == 'edf'


def test_label_policy_and_entries_before_a_skip(tmp_path):
  night, edf = util.write_night(tmp_path, 'mesa', hours=0.1, labels=('EKG', 'Thor'))
  annotation = cohort_files.find_annotation(edf)
  required = night_lib.NightOptions(signals=SIGNALS)
  read = night_lib.read_night(edf, required, annotation=annotation)
  np.testing.assert_array_equal(read.labels, night.labels)
  assert read.start_time == night.start_time.isoformat() and read.cohort == 'mesa'
  optional = night_lib.NightOptions(signals=SIGNALS, require_labels=False)
  assert night_lib.read_night(edf, optional).labels is None
  # A truncated EDF kept under allow_truncated is noted; the note survives the skip.
  path = pathlib.Path(edf)
  path.write_bytes(path.read_bytes()[:-5 * 576])  # Five whole 1-s records of 576 bytes.
  truncated = night_lib.NightOptions(signals=SIGNALS, allow_truncated=True)
  with pytest.raises(errors.AnnotationError, match='no annotation file found') as raised:
    night_lib.read_night(edf, truncated)
  assert raised.value.stage == 'annotation'
  assert [e.action for e in raised.value.entries] == [night_lib.NOTE]


def test_max_hours_crops_signals_and_labels(tmp_path):
  _, edf = util.write_night(tmp_path, 'mesa', hours=0.1, labels=('EKG', 'Thor'))
  options = night_lib.NightOptions(signals=SIGNALS, max_hours=0.05)
  read = night_lib.read_night(edf, options, annotation=cohort_files.find_annotation(edf))
  assert read.num_epochs == 6 and read.labels.shape == (6,)
  assert read.signals['ECG'].shape == (6 * 1024,) and read.signals['THX'].shape == (6 * 256,)
