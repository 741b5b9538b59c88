"""Population-level parameters of a cohort (age group) used by the generators.

A cohort's participants differ in age, which shifts sleep architecture (children have more N3 and
fewer awakenings, older adults the reverse), resting heart rate, breathing rate and how much sleep
apnea there is. These are medians; every night draws its own values around them.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Population:
  """Medians of per-night traits for one age group."""
  name: str
  hours_in_bed: float  # Mean recording length (h) when the caller does not fix it.
  sleep_onset_min: float  # Median sleep onset latency (min).
  n3_scale: float  # Multiplier of the slow-wave sleep budget per cycle.
  awakenings_per_hour: float  # Rate of wake bouts after sleep onset.
  heart_rate_bpm: float  # Median heart rate in N2.
  breaths_per_min: float  # Median breathing rate in N2.
  rsa_scale: float  # Respiratory sinus arrhythmia relative to a young adult.
  ahi_median: float  # Median apnea-hypopnea index (events per hour of sleep).


CHILD = Population(
    'child',
    hours_in_bed=9.5,
    sleep_onset_min=18.0,
    n3_scale=1.9,
    awakenings_per_hour=1.3,
    heart_rate_bpm=84.0,
    breaths_per_min=19.0,
    rsa_scale=1.8,
    ahi_median=1.5)
ADOLESCENT = Population(
    'adolescent',
    hours_in_bed=9.0,
    sleep_onset_min=16.0,
    n3_scale=1.5,
    awakenings_per_hour=1.7,
    heart_rate_bpm=68.0,
    breaths_per_min=16.5,
    rsa_scale=1.5,
    ahi_median=1.0)
ADULT = Population(
    'adult',
    hours_in_bed=8.6,
    sleep_onset_min=15.0,
    n3_scale=1.0,
    awakenings_per_hour=3.0,
    heart_rate_bpm=63.0,
    breaths_per_min=15.0,
    rsa_scale=1.0,
    ahi_median=7.0)
OLDER = Population(
    'older',
    hours_in_bed=8.4,
    sleep_onset_min=20.0,
    n3_scale=0.45,
    awakenings_per_hour=4.3,
    heart_rate_bpm=61.0,
    breaths_per_min=15.5,
    rsa_scale=0.55,
    ahi_median=14.0)
