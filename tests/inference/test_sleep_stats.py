"""Sleep statistics on hand-made hypnograms with hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wav2sleep_jax.core import stages
from wav2sleep_jax.inference import sleep_stats

W, N1, N2, N3, R = 0, 1, 2, 3, 4
# 18 epochs (9 min): sleep onset at epoch 3, final awakening after epoch 15,
# wake bouts inside the sleep period at 6 and 12-13, first REM at 10.
NIGHT = np.array([W, W, W, N1, N2, N2, W, N2, N3, N3, R, R, W, W, N2, R, W, W])


def test_five_class_night():
  s = sleep_stats.sleep_statistics(NIGHT)
  assert s.time_in_bed_min == 9.0
  assert s.total_sleep_time_min == 5.0
  assert s.sleep_efficiency_pct == pytest.approx(100 * 5 / 9)
  assert s.sleep_onset_latency_min == 1.5
  assert s.waso_min == 1.5  # Epochs 6, 12, 13; not the final 16-17.
  assert s.rem_latency_min == 3.5  # Epoch 10 - onset 3 = 7 epochs.
  assert s.awakenings == 2
  assert s.stage_min == {'Wake': 4.0, 'N1': 0.5, 'N2': 2.0, 'N3': 1.0, 'REM': 1.5}
  assert s.stage_pct['Wake'] == pytest.approx(100 * 4 / 9)  # Of time in bed.
  assert s.stage_pct['N1'] == pytest.approx(10.0)  # Of total sleep time.
  assert s.stage_pct['N2'] == pytest.approx(40.0)
  assert s.stage_pct['N3'] == pytest.approx(20.0)
  assert s.stage_pct['REM'] == pytest.approx(30.0)
  row = s.as_row()
  assert row['tst_min'] == 5.0 and row['n2_pct'] == pytest.approx(40.0)
  assert row['awakenings'] == 2 and row['rem_latency_min'] == 3.5


def test_min_awakening_length_and_lights():
  assert sleep_stats.sleep_statistics(NIGHT, min_awakening_epochs=2).awakenings == 1
  s = sleep_stats.sleep_statistics(NIGHT, lights_off_epoch=2, lights_on_epoch=16)
  assert s.time_in_bed_min == 7.0
  assert s.sleep_onset_latency_min == 0.5
  assert s.sleep_efficiency_pct == pytest.approx(100 * 5 / 7)
  assert s.stage_min['Wake'] == 2.0


def test_four_class_and_unscored():
  night = np.array([-1, 0, 1, -1, 2, 0, 0, 3, 1, 0])  # Wake, Light, Deep, REM.
  s = sleep_stats.sleep_statistics(night, stages.STAGES_4)
  assert s.time_in_bed_min == 5.0  # Unscored epochs count in bed.
  assert s.total_sleep_time_min == 2.0
  assert s.sleep_onset_latency_min == 1.0
  assert s.waso_min == 1.0  # Epochs 5-6; unscored epoch 3 is not wake.
  assert s.awakenings == 1
  assert s.rem_latency_min == 2.5
  assert s.stage_min == {'Wake': 2.0, 'Light': 1.0, 'Deep': 0.5, 'REM': 0.5}
  assert s.stage_pct['Light'] == pytest.approx(50.0)


def test_no_sleep_and_no_rem():
  s = sleep_stats.sleep_statistics(np.zeros(10, int))
  assert s.total_sleep_time_min == 0.0 and s.sleep_efficiency_pct == 0.0
  assert math.isnan(s.sleep_onset_latency_min) and math.isnan(s.rem_latency_min)
  assert s.waso_min == 0.0 and s.awakenings == 0
  assert math.isnan(s.stage_pct['N2'])
  s = sleep_stats.sleep_statistics(np.array([W, N2, N2, W]))
  assert math.isnan(s.rem_latency_min) and s.awakenings == 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(stages_S=np.array([0, 5])), r'in \[-1, 5\)'),
    (dict(stages_S=np.zeros((2, 2), int)), '1-D'),
    (dict(stages_S=np.zeros(4, int), lights_off_epoch=3, lights_on_epoch=3), 'empty'),
    (dict(stages_S=np.zeros(4, int), min_awakening_epochs=0), '>= 1'),
])
def test_bad_inputs(kwargs, message):
  with pytest.raises(ValueError, match=message):
    sleep_stats.sleep_statistics(**kwargs)
