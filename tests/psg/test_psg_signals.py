"""Tests for the signal table."""

import pytest

from wav2sleep_jax.psg import channels


def test_samples_per_epoch_match_paper():
  table = channels.signal_table()
  assert channels.EPOCH_SECONDS == 30
  assert {
      n: s.samples_per_epoch for n, s in table.items()
  } == {
      'ECG': 1024,
      'PPG': 1024,
      'ABD': 256,
      'THX': 256,
      'EOG-L': 4096,
      'EOG-R': 4096
  }
  assert list(table) == list(channels.SIGNAL_NAMES)
  assert table['ABD'].rate_hz == pytest.approx(256 / 30)


def test_aliases_start_with_canonical_name_in_documented_order():
  table = channels.signal_table()
  assert table['ECG'].aliases == ('ECG', 'EKG', 'ECG1', 'ECG L', 'ECGL', 'ECG L-ECG R')
  assert table['THX'].aliases[:3] == ('THX', 'Thor', 'THOR RES')
  assert table['ABD'].aliases.count('ABD') == 1  # Listed twice in the doc.
  for spec in table.values():
    assert spec.aliases[0] == spec.name


def test_extra_aliases_are_appended_or_replace():
  chat = channels.signal_table(channels.COHORT_EXTRA_ALIASES['chat'])
  assert chat['ECG'].aliases[-2:] == ('ECG2', 'ECG3')
  assert chat['PPG'] == channels.signal_table()['PPG']
  replaced = channels.signal_table({'THX': ['Resp chest']}, replace=True)
  assert replaced['THX'].aliases == ('THX', 'Resp chest')


@pytest.mark.parametrize('extra', [{'EEG': ['C3']}, {'ECG': 'EKG2'}])
def test_bad_extra_aliases_raise(extra):
  with pytest.raises(ValueError):
    channels.signal_table(extra)
