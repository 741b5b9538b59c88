"""Fuzz test of the EDF reader: mutated headers read correctly or raise RecordingError."""

import contextlib
import signal

import numpy as np
import pytest

import psg_testutil
from psg_testutil import Sig
from wav2sleep_jax.psg import edf
from wav2sleep_jax.psg import errors

SECONDS = 40
CASES = 400
SECONDS_PER_CASE = 5  # A case taking longer counts as a hang.
# Replacement values for whole header fields: edge cases of the EDF number fields.
FIELD_VALUES = [
    '0', '-1', '1', '-0', '2', '99999999', '-9999999', '1e39', '-1e39', '1e-30', 'nan', 'inf',
    '-inf', '', ' ', '+5', '0x10', '1.5', '12,5', 'abc', '\xff\xfe', '\x00\x00', 'EDF+D', 'EDF+C'
]


def _fixed_fields():
  """(offset, width) of every fixed-header field."""
  widths = [8, 80, 80, 8, 8, 8, 44, 8, 8, 4]
  offsets = np.cumsum([0] + widths[:-1])
  return list(zip(offsets.tolist(), widths))


def _signal_fields(num_signals):
  """(offset, width) of every per-signal header field of every signal."""
  widths = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32]
  fields, base = [], 256
  for width in widths:
    fields += [(base + width * i, width) for i in range(num_signals)]
    base += width * num_signals
  return fields


@pytest.fixture(scope='module')
def valid_edf(tmp_path_factory):
  rng = np.random.default_rng(1)
  path = tmp_path_factory.mktemp('fuzz') / 'valid.edf'
  psg_testutil.write_edf(path, [
      Sig('ECG', 100 * rng.standard_normal(SECONDS * 128), 128, 'uV', (-1000, 1000)),
      Sig('THOR RES', rng.standard_normal(SECONDS * 8), 8, '', (-8, 8)),
      Sig('SaO2', 95 + rng.standard_normal(SECONDS), 1, '%', (0, 100)),
  ])
  return path.read_bytes()


def _mutate(raw: bytes, rng: np.random.Generator) -> bytes:
  """One to three random mutations of the header (or the file's length)."""
  data = bytearray(raw)
  num_signals = int(raw[252:256])
  fields = _fixed_fields() + _signal_fields(num_signals)
  cut = len(data)
  for _ in range(rng.integers(1, 4)):
    kind = rng.integers(5)
    if kind == 0:  # Random bytes at random header positions.
      for pos in rng.integers(0, 256 * (1 + num_signals), size=rng.integers(1, 6)):
        data[pos] = int(rng.integers(0, 256))
    elif kind == 1:  # Random printable digits/signs in a field.
      offset, width = fields[rng.integers(len(fields))]
      chars = rng.choice(list(b'0123456789-+. e'), size=width)
      data[offset:offset + width] = bytes(chars.tolist())
    elif kind in (2, 3):  # An edge-case value in a field.
      offset, width = fields[rng.integers(len(fields))]
      value = FIELD_VALUES[rng.integers(len(FIELD_VALUES))]
      data[offset:offset + width] = value.encode('latin-1')[:width].ljust(width)
    else:  # Cut or extend the file (after the other mutations).
      cut = int(rng.integers(0, len(data) + 600))
  data = data[:cut] + bytes(max(0, cut - len(data)))
  return bytes(data)


@contextlib.contextmanager
def _deadline(seconds: int, case: int):

  def hang(signum, frame):
    raise AssertionError(f'case {case}: reader took more than {seconds} s')

  previous = signal.signal(signal.SIGALRM, hang)
  signal.alarm(seconds)
  try:
    yield
  finally:
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _check_recording(rec: edf.Recording, case: int) -> None:
  assert 0 < rec.duration_s <= edf.MAX_DURATION_S, case
  for name, channel in rec.channels.items():
    expected = round(rec.duration_s * channel.rate_hz)
    assert channel.data.shape == (expected,), (case, name, channel.data.shape, expected)
    assert channel.data.dtype == np.float32
    assert np.isfinite(channel.data).all(), (case, name)
  for problem in rec.problems:
    assert problem.reason, case


def test_mutated_headers_read_correctly_or_raise_recording_error(valid_edf, tmp_path):
  rng = np.random.default_rng(12)
  path = tmp_path / 'mutant.edf'
  outcomes = {'read': 0, 'error': 0}
  for case in range(CASES):
    path.write_bytes(_mutate(valid_edf, rng))
    allow_truncated = bool(rng.integers(2))
    with _deadline(SECONDS_PER_CASE, case):
      try:
        header = edf.read_header(path, allow_truncated=allow_truncated)
        rec = edf.read_recording(path, ['ECG', 'THX'], allow_truncated=allow_truncated)
      except errors.RecordingError as e:
        assert e.reason and str(e).startswith(str(path)), (case, str(e))
        assert '\n' not in e.reason, (case, e.reason)
        outcomes['error'] += 1
        continue
    assert header.duration_s == rec.duration_s, case
    _check_recording(rec, case)
    outcomes['read'] += 1
  # Both outcomes must occur, or the mutations are too weak or too strong to test anything.
  assert outcomes["read"] > CASES // 10 and outcomes['error'] > CASES // 10, outcomes
