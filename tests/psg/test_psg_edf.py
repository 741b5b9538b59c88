"""Tests for EDF reading: lookup, native rates, defects and typed errors."""

import datetime

import numpy as np
import pytest

import psg_testutil
from psg_testutil import Sig
from wav2sleep_jax.psg import channels
from wav2sleep_jax.psg import edf
from wav2sleep_jax.psg import errors

SECONDS = 300  # 5-minute recordings: 10 epochs.
RNG = np.random.default_rng(0)


def _noise(rate_hz, scale=1.0):
  return scale * RNG.standard_normal(int(SECONDS * rate_hz))


def _shhs_like(ecg_label='ECG', thx_label='THOR RES'):
  return [
      Sig(ecg_label, _noise(125, 100), 125, 'uV', (-1000, 1000)),
      Sig(thx_label, _noise(10), 10, '', (-8, 8)),
      Sig('SaO2', 95 + _noise(1), 1, '%', (0, 100)),
  ]


@pytest.mark.parametrize(
    'labels, aliases, expected',
    [
        (['EKG', 'ECG'], ['ECG', 'EKG'], 1),  # Alias order beats file order.
        (['ecg', 'EKG'], ['ECG', 'EKG'], 1),  # Exact match beats case-insensitive.
        (['ecg', 'X'], ['ECG', 'EKG'], 0),  # Case-insensitive fallback.
        (['  Thor  ', 'X'], ['THX', 'Thor'], 0),  # Padding ignored.
        (['EEG', 'EMG'], ['ECG', 'EKG'], None),
        (['ECG', 'ECG'], ['ECG'], 0),  # Repeated label: first wins.
    ])
def test_find_channel(labels, aliases, expected):
  assert edf.find_channel(labels, aliases) == expected


def test_reads_channels_at_native_rates(make_edf):
  sigs = _shhs_like()
  path = make_edf(sigs)
  rec = edf.read_recording(path, ['ECG', 'THX'])
  assert set(rec.channels) == {'ECG', 'THX'} and rec.problems == ()
  ecg, thx = rec.channels['ECG'], rec.channels['THX']
  assert (ecg.rate_hz, ecg.data.shape) == (125.0, (125 * SECONDS,))
  assert (thx.rate_hz, thx.data.shape) == (10.0, (10 * SECONDS,))
  assert ecg.data.dtype == np.float32
  # Values survive the 16-bit round trip (one step = 2000 / 65535 uV).
  np.testing.assert_allclose(ecg.data, sigs[0].data, atol=0.05)
  assert (ecg.label, ecg.unit, ecg.physical_range) == ('ECG', 'uV', (-1000.0, 1000.0))
  assert thx.label == 'THOR RES'
  assert rec.start == datetime.datetime(2001, 2, 3, 22, 15, 30)
  assert rec.duration_s == SECONDS and rec.num_epochs == 10
  assert rec.labels == ('ECG', 'THOR RES', 'SaO2')


def test_header_lists_signals_and_rates(make_edf):
  header = edf.read_header(make_edf(_shhs_like()))
  assert header.labels == ('ECG', 'THOR RES', 'SaO2')
  assert [s.rate_hz for s in header.signals] == [125.0, 10.0, 1.0]
  assert header.num_records == SECONDS and header.duration_s == SECONDS


def test_alias_and_cohort_lookup(make_edf):
  path = make_edf(_shhs_like(ecg_label='ECG2', thx_label='thorax'))
  rec = edf.read_recording(path, ['ECG', 'THX'])
  assert 'THX' in rec.channels and rec.channels['THX'].label == 'thorax'
  assert 'ECG' not in rec.channels  # ECG2 is a CHAT-only alias.
  (problem,) = rec.problems
  assert problem.name == 'ECG' and problem.label is None
  assert 'no channel labelled' in problem.reason
  chat = channels.signal_table(channels.COHORT_EXTRA_ALIASES['chat'])
  rec = edf.read_recording(path, ['ECG'], table=chat)
  assert rec.channels['ECG'].label == 'ECG2' and rec.problems == ()


def test_one_edf_signal_is_not_used_twice(make_edf):
  path = make_edf(_shhs_like())
  table = channels.signal_table({'ABD': ['THOR RES']})
  rec = edf.read_recording(path, ['THX', 'ABD'], table=table)
  assert 'THX' in rec.channels and 'ABD' not in rec.channels


def test_missing_channel_is_absent_not_an_error(make_edf):
  rec = edf.read_recording(make_edf(_shhs_like()))
  assert set(rec.channels) == {'ECG', 'THX'}
  assert [p.name for p in rec.problems] == ['PPG', 'ABD', 'EOG-L', 'EOG-R']


@pytest.mark.parametrize('field, value, reason', [
    ('physical_max', '0', 'physical max is 0'),
    ('physical_min', '1000', 'physical min equals physical max'),
    ('physical_min', 'nan', 'NaN'),
    ('physical_max', 'abc', 'unreadable physical'),
])
def test_defective_header_makes_channel_absent(make_edf, field, value, reason):
  path = make_edf(_shhs_like())
  psg_testutil.patch_header(path, field, 0, value)
  rec = edf.read_recording(path, ['ECG', 'THX'])
  assert 'ECG' not in rec.channels and 'THX' in rec.channels  # Night kept.
  (problem,) = rec.problems
  assert (problem.name, problem.label) == ('ECG', 'ECG')
  assert reason in problem.reason


def test_flat_line_channel_is_absent(make_edf):
  sigs = _shhs_like()
  sigs[1] = Sig('THOR RES', np.full(10 * SECONDS, 0.3), 10, '', (-8, 8))
  rec = edf.read_recording(make_edf(sigs), ['ECG', 'THX'])
  assert set(rec.channels) == {'ECG'}
  assert 'flat line' in rec.problems[0].reason


def test_quiet_but_not_flat_channel_is_kept(make_edf):
  sigs = _shhs_like()
  # A few quantisation steps of activity: small but real.
  sigs[1] = Sig('THOR RES', _noise(10, 0.01), 10, '', (-8, 8))
  rec = edf.read_recording(make_edf(sigs), ['THX'])
  assert 'THX' in rec.channels


def test_check_samples_nan_and_flat_arrays():
  assert 'NaN' in edf.check_samples(np.full(100, np.nan, np.float32))
  assert 'flat' in edf.check_samples(np.ones(100, np.float32))
  partly_nan = np.r_[np.sin(np.arange(50.0)), np.full(50, np.nan)]
  assert edf.check_samples(partly_nan) is None


_RECORD_BYTES = 2 * (125 + 10 + 1)  # One 1-s record of _shhs_like().


def _good_edf_bytes(make_edf):
  return make_edf(_shhs_like(), name='good.edf').read_bytes()


def test_truncated_edf_raises_recording_error_naming_file(make_edf, tmp_path):
  raw = _good_edf_bytes(make_edf)
  path = tmp_path / 'shhs1-200001.edf'
  path.write_bytes(raw[:len(raw) - 5000])
  with pytest.raises(errors.RecordingError) as info:
    edf.read_recording(path)
  assert 'shhs1-200001.edf' in str(info.value)
  assert 'truncated' in info.value.reason
  assert info.value.path == str(path)
  assert isinstance(info.value, errors.PsgError)


def test_truncated_edf_can_be_kept_when_allowed(make_edf, tmp_path):
  raw = _good_edf_bytes(make_edf)
  path = tmp_path / 'short.edf'
  path.write_bytes(raw[:len(raw) - 11 * _RECORD_BYTES])  # 11 whole records short.
  rec = edf.read_recording(path, ['ECG', 'THX'], allow_truncated=True)
  assert rec.duration_s == SECONDS - 11
  assert rec.channels['ECG'].data.shape == (125 * (SECONDS - 11),)
  assert any('truncated' in note for note in rec.notes)


def test_partial_last_record_is_refused_even_when_truncation_is_allowed(make_edf, tmp_path):
  raw = _good_edf_bytes(make_edf)
  path = tmp_path / 'short.edf'
  path.write_bytes(raw[:len(raw) - 10 * _RECORD_BYTES - 7])
  with pytest.raises(errors.RecordingError, match='not a whole number of records'):
    edf.read_recording(path, ['ECG'], allow_truncated=True)


@pytest.mark.parametrize('samples', ['124', '126', '250'])
def test_samples_per_record_not_matching_the_file_size_is_corrupt(make_edf, tmp_path, samples):
  path = tmp_path / 'edited.edf'
  path.write_bytes(_good_edf_bytes(make_edf))
  psg_testutil.patch_header(path, 'samples_per_record', 0, samples)  # ECG: 125.
  for allow_truncated in (False, True):
    with pytest.raises(errors.RecordingError, match='edited.edf: .*file has 82624 bytes'):
      edf.read_recording(path, ['ECG', 'THX'], allow_truncated=allow_truncated)
    with pytest.raises(errors.RecordingError, match='header'):
      edf.read_header(path, allow_truncated=allow_truncated)


@pytest.mark.parametrize('value, reason', [
    ('0', 'data record duration is 0 s'),
    ('-1', 'data record duration is -1 s'),
    ('nan', 'data record duration field'),
    ('1e9', r'recording 8.33e\+07 h long \(more than 168 h\)'),
    ('one', 'data record duration field'),
])
def test_bad_record_duration_is_named(make_edf, tmp_path, value, reason):
  raw = bytearray(_good_edf_bytes(make_edf))
  raw[244:252] = value.encode().ljust(8)
  path = tmp_path / 'duration.edf'
  path.write_bytes(bytes(raw))
  with pytest.raises(errors.RecordingError, match=reason):
    edf.read_recording(path)
  with pytest.raises(errors.RecordingError, match=reason):
    edf.read_header(path)


def test_nonpositive_samples_per_record_is_corrupt(make_edf, tmp_path):
  path = tmp_path / 'spr.edf'
  path.write_bytes(_good_edf_bytes(make_edf))
  psg_testutil.patch_header(path, 'samples_per_record', 2, '0')
  with pytest.raises(errors.RecordingError, match='signal 2 has 0 samples per data record'):
    edf.read_header(path)


def test_physical_range_overflowing_float32_makes_channel_absent(make_edf):
  path = make_edf(_shhs_like())
  psg_testutil.patch_header(path, 'physical_max', 0, '1e39')
  rec = edf.read_recording(path, ['ECG', 'THX'])
  assert 'ECG' not in rec.channels and 'THX' in rec.channels
  (problem,) = rec.problems
  assert problem.name == 'ECG' and 'overflows float32' in problem.reason


def test_samples_overflowing_float32_make_channel_absent(make_edf):
  path = make_edf(_shhs_like())
  # Within float32 itself, but 1e36 per digital step: most samples overflow.
  psg_testutil.patch_header(path, 'physical_min', 0, '-1e36')
  psg_testutil.patch_header(path, 'physical_max', 0, '1e36')
  psg_testutil.patch_header(path, 'digital_min', 0, '-1')
  psg_testutil.patch_header(path, 'digital_max', 0, '1')
  rec = edf.read_recording(path, ['ECG', 'THX'])
  assert 'ECG' not in rec.channels and 'THX' in rec.channels
  (problem,) = rec.problems
  assert problem.name == 'ECG' and 'samples overflow float32' in problem.reason


@pytest.mark.parametrize(
    'cut, reason',
    [
        (0, 'shorter than the 256-byte header'),
        (100, 'shorter than the 256-byte header'),
        (300, 'truncated EDF header'),
        (256 * 4, 'no data records'),  # Header only.
    ])
def test_cut_files_raise(make_edf, tmp_path, cut, reason):
  path = tmp_path / 'cut.edf'
  path.write_bytes(_good_edf_bytes(make_edf)[:cut])
  with pytest.raises(errors.RecordingError, match=reason):
    edf.read_header(path)


def test_garbage_file_raises(tmp_path):
  path = tmp_path / 'garbage.edf'
  path.write_bytes(b'0       ' + b'x' * 4992)
  with pytest.raises(errors.RecordingError, match='garbage.edf: corrupt EDF header'):
    edf.read_recording(path)
  path.write_bytes(b'PK\x03\x04' + bytes(4000))  # A zip, not an EDF.
  with pytest.raises(errors.RecordingError, match='not an EDF'):
    edf.read_recording(path)


def test_missing_file_raises(tmp_path):
  with pytest.raises(errors.RecordingError, match='cannot read'):
    edf.read_recording(tmp_path / 'nope.edf')


def test_unknown_signal_name_is_a_value_error(make_edf):
  with pytest.raises(ValueError, match='EEG'):
    edf.read_recording(make_edf(_shhs_like()), ['EEG'])


@pytest.mark.parametrize('extra', [_RECORD_BYTES * 5, 3])
def test_data_beyond_the_declared_records_is_corrupt(make_edf, tmp_path, extra):
  raw = _good_edf_bytes(make_edf)
  path = tmp_path / 'extra.edf'
  path.write_bytes(raw + bytes(extra))
  for allow_truncated in (False, True):
    with pytest.raises(errors.RecordingError, match='header does not match the data'):
      edf.read_recording(path, ['ECG'], allow_truncated=allow_truncated)


def test_unknown_record_count_uses_the_file_size(make_edf, tmp_path):
  raw = bytearray(_good_edf_bytes(make_edf))
  raw[236:244] = b'-1      '
  path = tmp_path / 'unknown_count.edf'
  path.write_bytes(bytes(raw))
  assert edf.read_header(path).num_records == SECONDS
  path.write_bytes(bytes(raw[:-3]))  # Incomplete last record.
  with pytest.raises(errors.RecordingError, match='last data record incomplete'):
    edf.read_header(path)
  raw[236:244] = b'0       '
  path.write_bytes(bytes(raw))
  with pytest.raises(errors.RecordingError, match='0 data records declared'):
    edf.read_header(path)
