"""Sleep architecture of generated hypnograms."""

import numpy as np
import pytest

from wav2sleep_jax.synthetic import population
from wav2sleep_jax.synthetic import stage_sequence


def _nights(pop, n=20, hours=8.5):
  return [
      stage_sequence.simulate(np.random.default_rng(i), int(hours * 120), pop) for i in range(n)
  ]


@pytest.mark.parametrize(
    'pop', [population.CHILD, population.ADOLESCENT, population.ADULT, population.OLDER],
    ids=lambda p: p.name)
def test_statistics_in_plausible_ranges(pop):
  stats = [stage_sequence.sleep_statistics(s) for s in _nights(pop)]
  mean = {k: float(np.mean([s[k] for s in stats])) for k in stats[0]}
  assert 0.70 <= mean['efficiency'] <= 0.95, mean
  assert 0.15 <= mean['rem_frac'] <= 0.25, mean
  assert 0.02 <= mean['n1_frac'] <= 0.15, mean
  assert 0.40 <= mean['n2_frac'] <= 0.75, mean
  assert 3.0 <= mean['sol_min'] <= 45.0, mean
  assert mean['waso_min'] > 5.0, mean
  # Nights differ from each other.
  assert np.std([s['efficiency'] for s in stats]) > 0.02


def test_age_ordering_of_deep_sleep_and_efficiency():

  def mean(pop, key):
    return np.mean([stage_sequence.sleep_statistics(s)[key] for s in _nights(pop)])

  assert mean(population.CHILD, 'n3_frac') > mean(population.ADULT, 'n3_frac') > mean(
      population.OLDER, 'n3_frac')
  assert mean(population.CHILD, 'efficiency') > mean(population.OLDER, 'efficiency')


def test_cycle_structure():
  early_n3 = late_n3 = early_rem = late_rem = 0
  for s in _nights(population.ADULT):
    third = len(s) // 3
    early_n3 += (s[:third] == stage_sequence.N3).sum()
    late_n3 += (s[-third:] == stage_sequence.N3).sum()
    early_rem += (s[:third] == stage_sequence.REM).sum()
    late_rem += (s[-third:] == stage_sequence.REM).sum()
    assert s[0] == stage_sequence.WAKE
    # No REM straight out of wake at sleep onset.
    first_sleep = int(np.argmax(s > 0))
    assert s[first_sleep] in (stage_sequence.N1, stage_sequence.N2)
  assert early_n3 > 3 * late_n3
  assert late_rem > 1.5 * early_rem


def test_short_nights_keep_all_stages():
  for i in range(5):
    s = stage_sequence.simulate(np.random.default_rng(i), 60, population.ADULT)
    assert len(s) == 60 and s.dtype == np.int8
    assert {0, 2, 4} <= set(s.tolist())
