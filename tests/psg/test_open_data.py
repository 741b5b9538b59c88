"""Open PhysioNet datasets: WFDB records, each dataset's scoring read back epoch by epoch,
the 30-s grid alignment and every bad-input case named by file."""

from __future__ import annotations

import dataclasses
import datetime

import edfio
import numpy as np
import pytest
import scipy.io
import wfdb as wfdb_pkg

from wav2sleep_jax import synthetic
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import input_files
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import night as night_lib
from wav2sleep_jax.psg import open_scoring
from wav2sleep_jax.psg import wfdb
from wav2sleep_jax.synthetic import open_writers

ALL = ('ECG', 'ABD', 'THX', 'EOG-L', 'EOG-R')
OPEN = ('cinc2018', 'hmc', 'ucddb', 'slpdb')


def _write(tmp_path, cohort, index=1, hours=0.1, **replace):
  night = synthetic.generate_night(cohort, seed=0, night_index=index, hours=hours)
  night = dataclasses.replace(night, **replace)
  return night, synthetic.write_night(night, str(tmp_path / cohort))


@pytest.mark.parametrize('cohort', OPEN)
def test_labels_read_back_equal_the_written_scoring(tmp_path, cohort):
  night, paths = _write(tmp_path, cohort)
  read = input_files.read_input(paths['signal'], ALL)
  assert read.cohort == cohort and read.num_epochs == len(night.labels)
  np.testing.assert_array_equal(read.labels, night.labels)
  expected = synthetic.COHORTS[cohort]
  assert {s for s in read.signals} == {c.source for c in expected.channels if c.source in ALL}
  ecg = night.channels['ECG']
  assert read.native_rate_hz['ECG'] == ecg.rate


def test_cinc2018_mat_record_as_wfdb2mat_writes_it(tmp_path):
  night, paths = _write(tmp_path, 'cinc2018')
  header = open(paths['signal']).read().splitlines()
  assert header[0].startswith(f'{night.record_id} 13 200 {len(night.labels) * 6000}')
  assert header[1].startswith(f'{night.record_id}.mat 16+24 ')
  assert [ln.split()[-1] for ln in header[1:]] == list(night.channels)
  val = scipy.io.loadmat(paths['mat'])['val']  # MATLAB v4 matrix [signals, samples].
  record = wfdb_pkg.rdrecord(paths['signal'][:-4], physical=False)
  np.testing.assert_array_equal(val.T, record.d_signal)
  recording = wfdb.read_recording(paths['signal'], ('ECG', 'THX'))
  ecg = night.channels['ECG'].data
  np.testing.assert_allclose(recording.channels['ECG'].data, ecg, atol=np.ptp(ecg) / 60000)
  assert recording.channels['THX'].label == 'CHEST'  # Not AIRFLOW.


def test_slpdb_fmt212_and_real_header_start(shared_dir, tmp_path):
  night, paths = _write(tmp_path, 'slpdb')
  assert open(paths['signal']).read().splitlines()[1].split()[1] == '212'
  header = wfdb.read_header(paths['signal'])
  assert header.start == night.start_time and header.num_samples == len(night.labels) * 7500
  real = wfdb.read_header(shared_dir / 'data' / 'real' / 'mitbih_slpdb' / 'slp41.hea')
  assert real.sampling_rate_hz == 250 and real.num_samples == 5850000
  assert real.signal_names[4] == 'Resp (abdominal)'


def _notes(path, notes):
  folder, name = path.parent, path.stem
  wfdb_pkg.wrann(
      name,
      path.suffix[1:],
      np.array([s for s, _ in notes]),
      symbol=['"'] * len(notes),
      aux_note=[a for _, a in notes],
      write_dir=str(folder))


def test_cinc2018_stage_notes_hold_and_events_are_ignored(tmp_path):
  _, paths = _write(tmp_path, 'cinc2018', hours=0.05)  # 6 epochs of 6000 samples.
  path = tmp_path / 'cinc2018' / 'training' / 'tr03-0006' / 'tr03-0006.arousal'
  _notes(path, [(0, 'N2'), (100, '(arousal_rera'), (900, 'arousal_rera)'), (12000, 'R'),
                (13000, 'resp_hypopnea'), (24000, 'W')])
  np.testing.assert_array_equal(
      open_scoring.read_cinc2018_arousal(path).labels,
      [2, 2, 4, 4, 0, 0])  # Note at sample 0 kept (rdann drops it).
  _notes(path, [(12000, 'N1'), (18000, 'undefined'), (24000, 'N3')])
  np.testing.assert_array_equal(
      open_scoring.read_cinc2018_arousal(path).labels, [-1, -1, 1, -1, 3, 3])
  hyp = open_scoring.read_cinc2018_arousal(paths['arousal'])
  assert hyp.start_time == wfdb.read_header(paths['signal']).start_time
  path.with_suffix('.hea').unlink()  # Alone: 200 Hz, the last stage scores one epoch.
  alone = open_scoring.read_cinc2018_arousal(path)
  np.testing.assert_array_equal(alone.labels, [-1, -1, 1, -1, 3])
  assert 'no tr03-0006.hea: 200 Hz assumed' in alone.notes[0]


@pytest.mark.parametrize('notes, message', [
    ([(0, 'W'), (6000, 'N4')], "unknown annotation 'N4' at sample 6000"),
    ([(10, '(resp_hypopnea'), (500, 'resp_hypopnea)')], 'no stage notes'),
    ([(0, 'W'), (7000, 'N1')], 'not on the 30-s grid'),
])
def test_cinc2018_bad_scoring(tmp_path, notes, message):
  _write(tmp_path, 'cinc2018', hours=0.05)
  path = tmp_path / 'cinc2018' / 'training' / 'tr03-0006' / 'tr03-0006.arousal'
  _notes(path, notes)
  with pytest.raises(errors.AnnotationError, match=message) as info:
    open_scoring.read_cinc2018_arousal(path)
  assert info.value.path == str(path)


def test_scoring_off_the_signal_grid_is_aligned_by_midpoints_and_reported(tmp_path):
  _write(tmp_path, 'cinc2018', hours=0.05)
  path = tmp_path / 'cinc2018' / 'training' / 'tr03-0006' / 'tr03-0006.arousal'
  _notes(path, [(2000, 'W'), (8000, 'N2'), (14000, 'R')])  # Scoring grid starts at 10 s.
  hyp = open_scoring.read_cinc2018_arousal(path)
  # Signal epoch k (midpoint 30k + 15 s) takes the scored epoch covering it; the last R
  # epoch would end 10 s after the record, so it is not a scored epoch.
  np.testing.assert_array_equal(hyp.labels, [0, 2, 4, 4, 4])
  assert 'off the 30-s grid' in hyp.notes[0] and '+10.000 s' in hyp.notes[0]
  night = input_files.read_input(path.with_suffix('.hea'), ('ECG',))
  assert any('off the 30-s grid' in e.reason and e.action == night_lib.NOTE for e in night.entries)


def _hmc_scoring(path, items, start=datetime.datetime(1985, 1, 1, 22, 0, 0)):
  edfio.Edf([],
            annotations=[edfio.EdfAnnotation(*i) for i in items],
            recording=edfio.Recording(startdate=start.date()),
            starttime=start.time()).write(str(path))


def test_hmc_alignment_to_the_signal_start(tmp_path):
  path = tmp_path / 'SN001_sleepscoring.edf'
  signal_start = datetime.datetime(1985, 1, 1, 21, 59, 0)  # Scoring file starts 60 s later.
  _hmc_scoring(path, [(0, None, 'Lights off'), (0, 30, 'Sleep stage W'), (30, 60, 'Sleep stage N1'),
                      (90, 30, 'Sleep stage ?'), (120, 30, 'Sleep stage R'),
                      (150, None, 'Lights on')])
  np.testing.assert_array_equal(open_scoring.read_hmc_scoring(path).labels, [0, 1, 1, -1, 4])
  hyp = open_scoring.read_hmc_scoring(path, signal_start)
  np.testing.assert_array_equal(hyp.labels, [-1, -1, 0, 1, 1, -1, 4])
  assert hyp.notes == ()
  offset = open_scoring.read_hmc_scoring(path, signal_start - datetime.timedelta(seconds=10))
  np.testing.assert_array_equal(offset.labels, [-1, -1, 0, 1, 1, -1, 4])  # Midpoints.
  assert '+10.000 s' in offset.notes[0]
  with pytest.raises(errors.AnnotationError, match='more than 12 h apart'):
    open_scoring.read_hmc_scoring(path, signal_start - datetime.timedelta(days=2))


@pytest.mark.parametrize('items, message', [
    ([(0, 30, 'Sleep stage W'), (30, 30, 'Sleep stage 4')], "unknown annotation 'Sleep stage 4'"),
    ([(0, 30, 'Sleep stage W'), (30, 20, 'Sleep stage N1')], 'not a multiple of 30 s'),
    ([(0, 30, 'Sleep stage W'), (45, 30, 'Sleep stage N1')], 'not on the 30-s grid'),
    ([(0, None, 'Lights off')], 'no stage annotations'),
])
def test_hmc_bad_scoring(tmp_path, items, message):
  path = tmp_path / 'SN001_sleepscoring.edf'
  _hmc_scoring(path, items)
  with pytest.raises(errors.AnnotationError, match=message) as info:
    open_scoring.read_hmc_scoring(path)
  assert info.value.path == str(path)


def test_ucddb_codes_and_length_mismatch_reported(tmp_path):
  night, paths = _write(tmp_path, 'ucddb')
  stage = tmp_path / 'ucddb' / 'ucddb003_stage.txt'
  stage.write_text('0\n1\n2\n3\n4\n5\n6\n7\n8\n\n')
  np.testing.assert_array_equal(
      open_scoring.read_ucddb_stages(stage).labels, [0, 4, 1, 2, 3, 3, -1, -1, -1])
  n = len(night.labels)
  for lines, action in ((n + 3, night_lib.LABELS_CROPPED), (n - 2, night_lib.LABELS_PADDED)):
    stage.write_text(''.join(f'{c}\n' for c in ([3] * lines)))
    read = input_files.read_input(paths['signal'], ALL)
    assert [e.action for e in read.entries if e.stage == 'alignment'] == [action]
    assert (read.labels[:min(n, lines)] == 2).all() and len(read.labels) == n
    assert (read.labels[lines:] == -1).all()
  stage.write_text('0\n2\nS1\n')
  with pytest.raises(errors.AnnotationError, match="line 3: unknown stage 'S1'"):
    open_scoring.read_ucddb_stages(stage)


def test_wfdb_record_errors_name_the_file(tmp_path):
  night, paths = _write(tmp_path, 'slpdb')
  hea = paths['signal']
  dat = tmp_path / 'slpdb' / 'slp02.dat'
  raw = dat.read_bytes()
  dat.write_bytes(raw[:len(raw) // 2])  # Header/signal length mismatch.
  with pytest.raises(errors.RecordingError, match='holds .* samples per signal, the header') as e:
    wfdb.read_recording(hea, ALL)
  assert e.value.path == str(dat)
  dat.write_bytes(raw + b'\0' * 30)  # Longer than the header: a note, the night is kept.
  assert 'bytes beyond the header length' in wfdb.read_recording(hea, ALL).notes[0]
  dat.unlink()
  with pytest.raises(errors.RecordingError, match='signal file missing'):
    wfdb.read_recording(hea, ALL)
  (tmp_path / 'slpdb' / 'slp02.hea').write_text('slp02 two 250 100\n')
  with pytest.raises(errors.RecordingError, match='malformed WFDB header'):
    wfdb.read_recording(hea, ALL)
  with pytest.raises(errors.RecordingError, match='header file not found'):
    wfdb.read_header(tmp_path / 'none.hea')


def test_open_writers_layout_files(tmp_path):
  night = synthetic.generate_night('hmc', seed=0, night_index=2, hours=0.05)
  paths = open_writers.write_open_night(night, str(tmp_path), hmc_offset_s=5.0)
  items = edfio.read_edf(paths['sleepscoring']).annotations
  texts = [a.text for a in items]
  assert texts[0] == 'Lights off' and texts[-1] == 'Lights on'
  assert [a.onset for a in items if a.text.startswith('Sleep stage')][:2] == [5.0, 35.0]
  ucddb = synthetic.generate_night('ucddb', seed=0, night_index=2, hours=0.05)
  text = open_writers.ucddb_stage_text(ucddb)
  assert len(text.split()) == len(ucddb.labels)
  slp = open_writers.slpdb_notes(synthetic.generate_night('slpdb', hours=0.05), 250)
  assert slp[0][0] == 1 and [s for s, _ in slp[1:3]] == [7500, 15000]


def test_wfdb_invalid_samples_are_interpolated_and_noted(tmp_path):
  rate, n = 250, 250 * 60
  ecg = np.sin(np.arange(n) / 10.0)
  wfdb_pkg.wrsamp(
      'gap',
      fs=rate,
      units=['mV'],
      sig_name=['ECG'],
      p_signal=ecg[:, None],
      fmt=['16'],
      adc_gain=[1000.0],
      baseline=[0],
      write_dir=str(tmp_path))
  raw = np.fromfile(tmp_path / 'gap.dat', '<i2')
  raw[100:110] = -32768  # The fmt 16 invalid-sample value.
  raw.tofile(tmp_path / 'gap.dat')
  recording = wfdb.read_recording(tmp_path / 'gap.hea', ('ECG',))
  data = recording.channels['ECG'].data
  assert np.isfinite(data).all()
  line = np.interp(np.arange(100, 110), [99, 110], [ecg[99], ecg[110]])
  np.testing.assert_allclose(data[100:110], line, atol=2e-3)
  assert recording.notes == ("ECG ('ECG'): 10 invalid samples (WFDB gap value) linearly "
                             'interpolated',)


def test_real_slpdb_record_without_signal_file_is_named(shared_dir):
  hea = shared_dir / 'data' / 'real' / 'mitbih_slpdb' / 'slp04.hea'
  with pytest.raises(errors.RecordingError, match='signal file missing') as info:
    input_files.read_input(hea, ('ECG', 'THX'))
  assert info.value.path.endswith('slp04.dat') and info.value.stage == 'wfdb'
  assert cohort_files.find_annotation(hea) == (night_lib.SLPDB_ST, str(hea.with_suffix('.st')))
