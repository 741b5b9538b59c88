"""Tests for resampling onto the 30-s epoch grid."""

import numpy as np
import pytest

from psg_testutil import tone
from wav2sleep_jax.psg import resample

SECONDS = 600  # 20 epochs.


@pytest.mark.parametrize(
    'rate, spe, expected',
    [
        (125, 1024, (512, 1875)),
        (256, 1024, (2, 15)),
        (10, 256, (64, 75)),
        (32, 256, (4, 15)),
        (128, 4096, (16, 15)),
        (250, 1024, (256, 1875)),
        (125 * (1 + 1e-13), 1024, (512, 1875)),  # Float noise in the header rate.
    ])
def test_rational_ratio(rate, spe, expected):
  assert resample.rational_ratio(rate, spe / 30) == expected


@pytest.mark.parametrize('rate', [125, 250, 256, 200, 500, 10, 32, 100, 128, 512])
@pytest.mark.parametrize('spe', [1024, 256, 4096])
def test_output_has_exactly_n_epochs(rate, spe):
  x = np.random.default_rng(0).standard_normal(SECONDS * rate)
  y = resample.resample_to_epochs(x, rate, spe)
  assert y.shape == (20 * spe,) and y.dtype == np.float32
  assert resample.resample_to_epochs(x, rate, spe, max_epochs=7).shape == (7 * spe,)


def test_partial_last_epoch_is_dropped_and_padding_is_zero():
  x = np.ones(125 * (SECONDS + 29))
  assert resample.resample_to_epochs(x, 125, 1024).shape == (20 * 1024,)
  y = resample.resample_to_epochs(x, 125, 1024, max_epochs=25)
  assert y.shape == (25 * 1024,)
  np.testing.assert_allclose(y[:20 * 1024], 1.0, atol=1e-3)  # No edge dip.
  assert (y[int(20.99 * 1024):] == 0).all()


def test_tone_above_new_nyquist_is_attenuated():
  # 125 Hz -> 34.13 Hz (Nyquist 17.07 Hz): a 30 Hz tone would alias to 4.13 Hz.
  x = tone(30.0, 125, SECONDS)
  y = resample.resample_to_epochs(x, 125, 1024)
  core = y[1024:-1024]
  assert np.sqrt(np.mean(core**2)) < 0.01  # >40 dB below the 0.707 input RMS.
  # Naive decimation by interpolation keeps the full alias: the test can fail.
  t_out = np.arange(20 * 1024) / (1024 / 30)
  naive = np.interp(t_out, np.arange(x.size) / 125, x)
  assert np.sqrt(np.mean(naive**2)) > 0.3


@pytest.mark.parametrize('rate, spe, freq', [(125, 1024, 1.0), (10, 256, 0.3), (128, 4096, 20.0)])
def test_low_tone_is_preserved_and_aligned_to_the_grid(rate, spe, freq):
  x = tone(freq, rate, SECONDS)
  y = resample.resample_to_epochs(x, rate, spe)
  t_out = np.arange(y.size) / (spe / 30)
  expected = np.sin(2 * np.pi * freq * t_out)
  core = slice(spe, -spe)  # Ignore filter edge effects.
  np.testing.assert_allclose(y[core], expected[core], atol=0.01)


def test_nan_never_propagates():
  x = tone(1.0, 125, SECONDS)
  x[1000:1100] = np.nan  # Interior gap: interpolated.
  x[-125 * 40:] = np.nan  # Garbage after the end: holds the last value.
  x[:10] = np.inf
  y = resample.resample_to_epochs(x, 125, 1024, max_epochs=30)
  assert np.isfinite(y).all()
  # Far from the gaps the signal is untouched.
  t_out = np.arange(y.size) / (1024 / 30)
  mid = slice(300 * 34, 500 * 34)
  np.testing.assert_allclose(y[mid], np.sin(2 * np.pi * t_out[mid]), atol=0.01)


def test_fill_nonfinite():
  x = np.array([np.nan, 1.0, np.nan, 3.0, np.inf, np.nan])
  np.testing.assert_array_equal(resample.fill_nonfinite(x), [1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
  np.testing.assert_array_equal(resample.fill_nonfinite(np.full(3, np.nan)), np.zeros(3))


def test_fit_length():
  x = np.arange(5, dtype=np.float32)
  np.testing.assert_array_equal(resample.fit_length(x, 3), [0, 1, 2])
  np.testing.assert_array_equal(resample.fit_length(x, 7), [0, 1, 2, 3, 4, 0, 0])
  with pytest.raises(ValueError):
    resample.fit_length(x, -1)
