"""Scored events of a night: respiratory events, arousals, desaturations, limb movements.

Events depend on the hypnogram (apneas cluster in REM and light sleep, rarely in N3; arousals are
frequent in N1/N2) and in turn drive the physiology (breathing amplitude drops, heart-rate surges,
finger vasoconstriction, SpO2 dips). Times are seconds from the recording start.
"""

import dataclasses

import numpy as np

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.synthetic.population import Population

OBSTRUCTIVE_APNEA = 'obstructive_apnea'
CENTRAL_APNEA = 'central_apnea'
HYPOPNEA = 'hypopnea'
AROUSAL = 'arousal'
DESATURATION = 'desaturation'
LIMB_MOVEMENT = 'limb_movement'
RESPIRATORY = (OBSTRUCTIVE_APNEA, CENTRAL_APNEA, HYPOPNEA)

# Relative event rates per stage (W, N1, N2, N3, REM).
_RESP_STAGE_RATE = np.array([0.0, 1.3, 1.0, 0.25, 1.8])
_AROUSAL_STAGE_RATE = np.array([0.0, 1.6, 1.0, 0.3, 0.9])
_LIMB_STAGE_RATE = np.array([0.3, 1.2, 1.0, 0.4, 0.1])


@dataclasses.dataclass(frozen=True)
class Event:
  kind: str
  start: float  # Seconds from recording start.
  duration: float  # Seconds.
  nadir: float | None = None  # SpO2 nadir (%), desaturations only.
  baseline: float | None = None  # SpO2 before the desaturation (%).


def _place(rng: np.random.Generator, stages: np.ndarray, stage_rate: np.ndarray,
           per_hour: float) -> np.ndarray:
  """Poisson event onsets (seconds) with epoch-wise rates given by the stage."""
  rate_per_epoch = stage_rate[np.clip(stages, 0, 4)] * (stages >= 0) * per_hour / 120.0
  counts = rng.poisson(rate_per_epoch)
  epochs = np.repeat(np.arange(len(stages)), counts)
  return np.sort(grid.EPOCH_SECONDS * (epochs + rng.random(epochs.size)))


def simulate(rng: np.random.Generator, stages: np.ndarray, population: Population,
             spo2_baseline: float) -> list[Event]:
  """Returns the night's events, sorted by start time."""
  duration = float(grid.EPOCH_SECONDS * len(stages))
  ahi = population.ahi_median * rng.lognormal(0.0, 0.9)
  events: list[Event] = []
  last_end = -1e9
  for onset in _place(rng, stages, _RESP_STAGE_RATE, ahi):
    if onset < last_end + 8.0:
      continue  # Events do not overlap; a short recovery separates them.
    u = rng.random()
    kind = OBSTRUCTIVE_APNEA if u < 0.3 else (CENTRAL_APNEA if u < 0.38 else HYPOPNEA)
    length = float(np.clip(rng.lognormal(np.log(19.0), 0.35), 10.0, 75.0))
    if onset + length + 20 > duration:
      continue
    events.append(Event(kind, round(onset, 1), round(length, 1)))
    last_end = onset + length
    severity = {OBSTRUCTIVE_APNEA: 1.0, CENTRAL_APNEA: 0.8, HYPOPNEA: 0.55}[kind]
    if rng.random() < 0.5 + 0.4 * severity:
      drop = float(np.clip(rng.gamma(2.0, 2.2) * severity * (length / 20.0) + 3.0, 3.0, 30.0))
      events.append(
          Event(
              DESATURATION,
              round(onset + length * 0.6, 1),
              round(float(rng.uniform(15.0, 35.0)), 1),
              nadir=round(spo2_baseline - drop, 0),
              baseline=round(spo2_baseline, 0)))
    if rng.random() < 0.35 + 0.5 * severity:
      events.append(
          Event(AROUSAL, round(onset + length - rng.uniform(0.0, 3.0), 1),
                round(float(rng.uniform(3.0, 15.0)), 1)))
  for onset in _place(rng, stages, _AROUSAL_STAGE_RATE, 7.0 * rng.lognormal(0.0, 0.4)):
    if onset + 20 < duration:
      events.append(Event(AROUSAL, round(onset, 1), round(float(rng.uniform(3.0, 15.0)), 1)))
  for onset in _place(rng, stages, _LIMB_STAGE_RATE, 4.0 * rng.lognormal(0.0, 0.8)):
    if onset + 10 < duration:
      events.append(Event(LIMB_MOVEMENT, round(onset, 1), round(float(rng.uniform(0.5, 5.0)), 1)))
  events.sort(key=lambda e: (e.start, e.kind))
  return events


def times(events: list[Event], *kinds: str) -> tuple[np.ndarray, np.ndarray]:
  """(starts, durations) of the events of the given kinds."""
  sel = [e for e in events if e.kind in kinds]
  return (np.array([e.start for e in sel],
                   dtype=np.float64), np.array([e.duration for e in sel], dtype=np.float64))
