"""Sleep statistics: hand-computed values, and YASA's on real slpdb and random hypnograms."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from wav2sleep_jax.core import stages
from wav2sleep_jax.inference import sleep_stats
from wav2sleep_jax.psg import annotations
from tests.conftest import require_shared

W, N1, N2, N3, R = 0, 1, 2, 3, 4
# 18 epochs (9 min): sleep onset at epoch 3, final awakening after epoch 15,
# wake bouts inside the sleep period at 6 and 12-13, first REM at 10.
NIGHT = np.array([W, W, W, N1, N2, N2, W, N2, N3, N3, R, R, W, W, N2, R, W, W])
_YASA_5 = {-1: 'UNS', 0: 'WAKE', 1: 'N1', 2: 'N2', 3: 'N3', 4: 'REM'}
_YASA_4 = {-1: 'UNS', 0: 'WAKE', 1: 'LIGHT', 2: 'DEEP', 3: 'REM'}


def test_five_class_night():
  s = sleep_stats.sleep_statistics(NIGHT)
  assert s.tib_min == 9.0 and s.spt_min == 6.5  # Epochs 3-15.
  assert s.tst_min == 5.0
  assert s.sleep_efficiency_pct == pytest.approx(100 * 5 / 9)
  assert s.sleep_maintenance_efficiency_pct == pytest.approx(100 * 5 / 6.5)
  assert s.sleep_onset_latency_min == 1.5
  assert s.waso_min == 1.5  # Epochs 6, 12, 13; not the final 16-17.
  assert s.rem_latency_from_sleep_onset_min == 3.5  # Epoch 10 - onset 3 = 7 epochs.
  assert s.latency_min == {'N1': 1.5, 'N2': 2.0, 'N3': 4.0, 'REM': 5.0}
  assert s.sleep_fragmentation_index_per_h == pytest.approx(3 / (5 / 60))  # 5->6, 11->12, 15->16.
  assert math.isnan(s.persistent_sleep_latency_min)  # No 10 epochs of sleep in a row.
  assert s.awakenings == 2
  assert s.stage_min == {'Wake': 4.0, 'N1': 0.5, 'N2': 2.0, 'N3': 1.0, 'REM': 1.5, 'NREM': 3.5}
  assert s.stage_pct == pytest.approx({
      'N1': 10.0,
      'N2': 40.0,
      'N3': 20.0,
      'NREM': 70.0,
      'REM': 30.0
  })
  row = s.as_row()
  assert row['tst_min'] == 5.0 and row['n2_pct'] == pytest.approx(40.0)
  assert row['awakenings'] == 2 and row['rem_latency_from_sleep_onset_min'] == 3.5
  assert row['rem_latency_from_start_min'] == 5.0 and row['wake_min'] == 4.0
  assert 'wake_pct' not in row  # Percentages are of TST, sleep stages only.


def test_persistent_sleep_and_lights():
  night = np.array([W, N1, W] + [N2] * 10 + [W])
  s = sleep_stats.sleep_statistics(night)
  assert s.sleep_onset_latency_min == 0.5 and s.persistent_sleep_latency_min == 1.5
  assert sleep_stats.sleep_statistics(NIGHT, min_awakening_epochs=2).awakenings == 1
  s = sleep_stats.sleep_statistics(NIGHT, lights_off_epoch=2, lights_on_epoch=16)
  assert s.tib_min == 7.0
  assert s.sleep_onset_latency_min == 0.5
  assert s.sleep_efficiency_pct == pytest.approx(100 * 5 / 7)
  assert s.stage_min['Wake'] == 2.0


def test_four_class_and_unscored():
  night = np.array([-1, 0, 1, -1, 2, 0, 0, 3, 1, 0])  # Wake, Light, Deep, REM.
  s = sleep_stats.sleep_statistics(night, stages.STAGES_4)
  assert s.tib_min == 5.0 and s.unscored_min == 1.0  # Unscored epochs count in bed.
  assert s.tst_min == 2.0 and s.spt_min == 3.5
  assert s.sleep_onset_latency_min == 1.0
  assert s.waso_min == 1.0  # Epochs 5-6; unscored epoch 3 is not wake.
  assert s.awakenings == 1
  assert s.rem_latency_from_sleep_onset_min == 2.5
  assert s.stage_min == {'Wake': 2.0, 'Light': 1.0, 'Deep': 0.5, 'REM': 0.5}
  assert s.stage_pct['Light'] == pytest.approx(50.0)
  assert s.as_yasa()['UNS'] == 1.0 and 'NREM' not in s.as_yasa()


def test_no_sleep_and_no_rem():
  s = sleep_stats.sleep_statistics(np.zeros(10, int))
  assert s.tst_min == 0.0 and s.spt_min == 0.0 and s.sleep_efficiency_pct == 0.0
  for value in (s.sleep_onset_latency_min, s.rem_latency_from_sleep_onset_min, s.waso_min,
                s.sleep_maintenance_efficiency_pct, s.sleep_fragmentation_index_per_h,
                s.stage_pct['N2'], s.latency_min['N1']):
    assert math.isnan(value)
  assert s.awakenings == 0
  s = sleep_stats.sleep_statistics(np.array([W, N2, N2, W]))
  assert math.isnan(s.rem_latency_from_sleep_onset_min) and s.awakenings == 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(stages_S=np.array([0, 5])), r'in \[-1, 5\)'),
    (dict(stages_S=np.zeros((2, 2), int)), '1-D'),
    (dict(stages_S=np.zeros(4, int), lights_off_epoch=3, lights_on_epoch=3), 'empty'),
    (dict(stages_S=np.zeros(4, int), min_awakening_epochs=0), '>= 1'),
])
def test_bad_inputs(kwargs, message):
  with pytest.raises(ValueError, match=message):
    sleep_stats.sleep_statistics(**kwargs)


# --- Against YASA -------------------------------------------------------------


def _assert_same(ours: dict, theirs: dict, keys) -> None:
  for key in keys:
    want = float(theirs[key])
    if math.isnan(want):
      assert math.isnan(ours[key]), key
    else:  # The Hypnogram method rounds to 4 decimals.
      assert ours[key] == pytest.approx(want, abs=6e-5), key


def _compare_with_yasa(labels_S: np.ndarray, four: bool) -> None:
  import yasa

  names = stages.STAGES_4 if four else stages.STAGES_5
  if four:
    labels_S = stages.five_to_four(labels_S)
  ours = sleep_stats.sleep_statistics(labels_S, names).as_yasa()
  mapping = _YASA_4 if four else _YASA_5
  hyp = yasa.Hypnogram([mapping[int(v)] for v in labels_S], n_stages=4 if four else 5)
  method = hyp.sleep_statistics()
  assert set(method) <= set(ours), set(method) - set(ours)
  _assert_same(ours, method, method)
  if not four:  # The deprecated function adds Lat_N1..N3, NREM and %NREM.
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', FutureWarning)
      legacy = yasa.sleep_statistics(np.where(labels_S < 0, -2, labels_S), sf_hyp=1 / 30)
    _assert_same(ours, legacy, legacy)
  ours_aasm = sleep_stats.sleep_statistics(labels_S, names).rem_latency_from_sleep_onset_min
  want_aasm = method['Lat_REM'] - method['SOL']
  assert (math.isnan(ours_aasm) and math.isnan(want_aasm)) or ours_aasm == pytest.approx(
      want_aasm, abs=1e-4)


@pytest.mark.parametrize('record', ['slp04', 'slp41', 'slp45'])
@pytest.mark.parametrize('four', [False, True])
def test_equal_to_yasa_on_real_slpdb_hypnograms(record, four):
  folder = require_shared('data', 'real', 'mitbih_slpdb')
  labels_S = annotations.read_wfdb_stages(folder / f'{record}.st').labels
  assert labels_S.size > 600
  _compare_with_yasa(labels_S, four)


@pytest.mark.parametrize('four', [False, True])
def test_equal_to_yasa_on_random_hypnograms(four):
  rng = np.random.default_rng(0)
  for i in range(40):
    n = int(rng.integers(2, 300))
    # Sticky random walks so that runs (persistent sleep, bouts) occur; some all-wake nights.
    stay = rng.random(n) < 0.85
    draws = rng.choice([-1, 0, 1, 2, 3, 4], size=n, p=[0.05, 0.3, 0.15, 0.3, 0.1, 0.1])
    labels = draws.copy()
    for t in range(1, n):
      if stay[t]:
        labels[t] = labels[t - 1]
    if i % 10 == 0:
      labels[:] = np.where(labels < 0, -1, 0)
    _compare_with_yasa(labels.astype(np.int8), four)
