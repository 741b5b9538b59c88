"""'reference' preprocessing, step by step: channel lookup, units, grid, sample order,
normalisation (the semantics of the reference's data/edf.py, preprocessing.py, dataset.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.data import normalize
from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import reference_grid


def test_lookup_is_exact_skips_broken_units_and_takes_the_last_repeated_label():
  labels = ['ecg', 'EKG', 'Thor', 'THOR RES', 'Pleth', 'Pleth ', 'E1']
  units = ['mV', 'mV', 'BROKEN', '', '', '', 'uV']
  found, problems = edf_lib.match_reference_channels(labels, units,
                                                     ('ECG', 'THX', 'PPG', 'ABD', 'EOG-L'))
  assert found == {'ECG': 1, 'THX': 3, 'PPG': 5, 'EOG-L': 6}
  (missing,) = problems
  assert missing.name == 'ABD' and 'exactly' in missing.reason
  found, problems = edf_lib.match_reference_channels(['Thor'], [' broken '], ('THX',))
  assert not found and 'BROKEN' in problems[0].reason


@pytest.mark.parametrize('unit,scale', [('uV', 1e-3), ('uv', 1e-3), ('mV', 1.0), ('V', 1e3),
                                        ('Volts', 1e3), ('', 1.0), ('µV', 1.0), ('nV', 1.0)])
def test_voltage_signals_in_millivolts(unit, scale):
  x = np.array([1.0, -2.0, 4.0])
  np.testing.assert_allclose(reference_grid.to_reference_units('ECG', x, unit, (-5, 5)), x * scale)
  np.testing.assert_allclose(reference_grid.to_reference_units('EOG-R', x, unit, None), x * scale)


def test_arbitrary_units_scaled_by_the_physical_range():
  x = np.array([-3.0, 1.0, 5.0])
  for physical_range in ((-3.0, 5.0), (5.0, -3.0)):  # An inverted range counts by its size.
    np.testing.assert_allclose(
        reference_grid.to_reference_units('THX', x, 'V', physical_range), [-1.0, 0.0, 1.0])
  np.testing.assert_allclose(reference_grid.to_reference_units('PPG', x, '', (2.0, 2.0)), x)
  np.testing.assert_allclose(reference_grid.to_reference_units('ABD', x, '', None), x)


def test_grid_starts_one_step_in_interpolates_inside_and_fills_zeros():
  spe, hours = 256, 1 / 120  # One epoch.
  t = reference_grid.grid_times(spe, hours)
  assert t.size == 256 and t[0] == 30 / 256 and t[-1] == 30.0
  rate = 4.0  # Samples at 0, 0.25, ..., 10 s: x = t.
  x = np.arange(41) / rate
  y = reference_grid.to_grid(x, rate, spe, hours)
  inside = t <= 10.0
  np.testing.assert_allclose(y[inside], t[inside], rtol=1e-6)
  assert (y[~inside] == 0).all()
  # Missing samples are dropped, then interpolated across.
  gappy = x.copy()
  gappy[10:20] = np.nan
  np.testing.assert_allclose(
      reference_grid.to_grid(gappy, rate, spe, hours)[inside], t[inside], rtol=1e-6)


def test_joined_order_is_identity_when_the_finest_grid_comes_first():
  order = reference_grid.joined_sample_order(('ECG', 'PPG', 'THX'), 2)
  for name, idx in order.items():
    np.testing.assert_array_equal(idx, np.arange(idx.size))


def test_joined_order_when_a_coarser_grid_comes_first():
  # THX's grid times are every 4th of ECG's: ECG reads those first, then the rest.
  order = reference_grid.joined_sample_order(('THX', 'ECG'), 1)
  np.testing.assert_array_equal(order['THX'], np.arange(256))
  ecg = order['ECG']
  np.testing.assert_array_equal(ecg[:256], np.arange(3, 1024, 4))
  rest = np.setdiff1d(np.arange(1024), np.arange(3, 1024, 4))
  np.testing.assert_array_equal(ecg[256:], rest)
  x = {'THX': np.arange(256.0), 'ECG': np.arange(1024.0)}
  out = reference_grid.in_joined_order(x, ('ABD', 'THX', 'ECG'), 1)
  np.testing.assert_array_equal(out['ECG'], ecg.astype(float))


def test_reference_zscore_has_torch_semantics():
  x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
  z = normalize.reference_zscore(x)
  np.testing.assert_allclose(z, (x - 2.5) / np.std(x, ddof=1), rtol=1e-6)  # Unbiased std.
  flat = normalize.reference_zscore(np.full(8, 3.0, np.float32))
  assert (flat == 0).all()
  tiny = np.array([0.0, 1e-8], np.float32)
  np.testing.assert_allclose(normalize.reference_zscore(tiny), (tiny - 5e-9) / 1e-6, rtol=1e-5)


def _ema_loop(x, rate):
  """The reference's causal normaliser written as its plain loop."""
  p = normalize.REFERENCE_EMA
  dt = 1 / rate
  a_b, a_v, m = dt / p['baseline_tau_s'], dt / p['variance_tau_s'], p['sigma_floor']**2
  warm = max(1, min(int(120 * rate), len(x) // 10))
  mu, var = [float(np.mean(x[:warm]))], [max(float(np.var(x[:warm])), m, 1e-6)]
  for v in x[1:].astype(np.float64):
    mu.append(a_b * v + (1 - a_b) * mu[-1])
    r = v - mu[-1]
    bound = 4 * math.sqrt(max(var[-1], m))
    r = min(max(r, -bound), bound)
    var.append(a_v * r * r + (1 - a_v) * var[-1])
  return ((x - np.array(mu)) / np.sqrt(np.maximum(var, m))).astype(np.float32)


def test_reference_causal_normaliser_matches_its_loop():
  rate = 1024 / 30
  t = np.arange(20_000) / rate
  rng = np.random.default_rng(0)
  x = (5 * np.sin(2 * np.pi * 1.1 * t)**31 + 0.3 * rng.standard_normal(t.size) + 0.01 * t).astype(
      np.float32)  # Spikes that get clipped, and a drift.
  np.testing.assert_allclose(
      normalize.reference_causal_normalize(x, rate), _ema_loop(x, rate), rtol=0, atol=1e-5)


def test_preprocessing_values_are_validated(tmp_path):
  assert prep_lib.from_name('reference').max_hours == 10
  assert prep_lib.reference(14).grid_epochs == 1680
  for bad in (dict(name='zscore'), dict(name='wav2sleep_jax', max_hours=10),
              dict(name='reference', max_hours=0), dict(name='reference', max_hours=1 / 7)):
    with pytest.raises(prep_lib.PreprocessingError):
      prep_lib.Preprocessing(**bad)
  assert prep_lib.load(tmp_path) == prep_lib.Preprocessing()  # Older model folders.
  prep_lib.save(tmp_path, prep_lib.reference(12))
  assert prep_lib.load(tmp_path) == prep_lib.reference(12)
  (tmp_path / prep_lib.FILE).write_text('{"name": "reference", "hours": 3}')
  with pytest.raises(prep_lib.PreprocessingError, match=prep_lib.FILE):
    prep_lib.load(tmp_path)
