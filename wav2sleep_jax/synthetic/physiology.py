"""Latent physiology of one night on a 10-Hz control grid: heart beats, breathing, autonomic tone.

The stage of each epoch sets targets (heart rate, heart-rate variability, respiratory sinus
arrhythmia, breathing rate and regularity, tidal amplitude, peripheral vascular tone) that are
smoothed across transitions, jittered per epoch and shifted per night, so that stages overlap
substantially between nights. Events add arousal heart-rate surges, apnea breathing changes and
vasoconstriction. The signal modules (ecg, ppg, respiration, eog, oximetry) render channels from
these drivers at each channel's native rate.

Stage order in every per-stage table: W, N1, N2, N3, REM.
"""

import dataclasses

import numpy as np
from scipy import signal as sps

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.synthetic import events as ev
from wav2sleep_jax.synthetic import noise
from wav2sleep_jax.synthetic.population import Population

FS = 10.0  # Control grid rate (Hz).


@dataclasses.dataclass(frozen=True)
class Drivers:
  """Latent time courses shared by all channels of a night (arrays on the FS grid)."""
  duration_s: float
  stages: np.ndarray  # int8 [epochs], unscored mapped to wake.
  heart_rate: np.ndarray  # Instantaneous heart rate (bpm).
  beat_times: np.ndarray  # R-peak times (s).
  ectopic: np.ndarray  # bool per beat: premature ventricular beat.
  resp_phase: np.ndarray  # Breathing phase in cycles (unwrapped).
  resp_amplitude: np.ndarray  # Tidal amplitude (1 = typical N2 breath).
  thx_share: np.ndarray  # Rib-cage contribution (reduced in REM atonia).
  paradox: np.ndarray  # 0..1: thoraco-abdominal phase opposition (obstruction).
  vascular_tone: np.ndarray  # PPG pulse amplitude multiplier (vasoconstriction < 1).
  movement: np.ndarray  # 0..1 body-movement envelope (artifacts on every channel).
  posture_changes: np.ndarray  # Times (s) of posture changes.
  spo2_baseline: float


def _per_stage(rng: np.random.Generator, means, rel_jitter: float, abs_jitter: float = 0.0):
  """Per-night stage table: means scaled by a shared factor plus small per-stage noise."""
  means = np.asarray(means, dtype=np.float64)
  return means * rng.lognormal(0.0, rel_jitter) + rng.normal(0.0, abs_jitter, means.shape)


def _contrast_shift(deltas, contrast: float):
  """Stage offsets (N2 = 0) scaled by `contrast`."""
  return deltas if contrast == 1.0 else (np.asarray(deltas, np.float64) * contrast).tolist()


def _contrast_ratio(values, contrast: float):
  """Positive stage values pushed away from N2 by `contrast` on a log scale."""
  if contrast == 1.0:
    return values
  v = np.asarray(values, np.float64)
  return (v[2] * (v / v[2])**contrast).tolist()


def _epoch_values(rng: np.random.Generator, table: np.ndarray, stages: np.ndarray,
                  sd: float) -> np.ndarray:
  return (table[stages] + rng.normal(0.0, sd, stages.shape)).astype(np.float32)


def _bumps(times: np.ndarray,
           amps: np.ndarray,
           n: int,
           rise_s: float,
           decay_s: float,
           delay_s: float = 0.0) -> np.ndarray:
  """Transient responses (rise, then exponential decay; peak = amplitude) at event times."""
  if len(times) == 0:
    return np.zeros(n, dtype=np.float32)
  k = np.arange(int((delay_s + 8 * decay_s) * FS) + 1) / FS - delay_s
  x = np.clip(k, 0.0, None)
  kernel = np.where(k > 0, (1.0 - np.exp(-x / rise_s)) * np.exp(-x / decay_s), 0.0)
  kernel /= kernel.max()
  idx = np.clip((np.asarray(times) * FS).astype(np.int64), 0, n - 1)
  impulses = np.bincount(idx, weights=np.asarray(amps, dtype=np.float64), minlength=n)
  return sps.oaconvolve(impulses, kernel)[:n].astype(np.float32)


@dataclasses.dataclass(frozen=True)
class _Night:
  """The control grid of one night and its stage-contrast rules."""
  st: np.ndarray  # int8 [epochs], unscored mapped to wake.
  n: int  # Samples on the FS grid.
  t: np.ndarray  # Sample times (s).
  contrast: float

  @property
  def n_ep(self) -> int:
    return len(self.st)

  @property
  def duration(self) -> float:
    return float(self.n_ep * grid.EPOCH_SECONDS)

  def sh(self, deltas):
    return _contrast_shift(deltas, self.contrast)

  def ra(self, values):
    return _contrast_ratio(values, self.contrast)


def simulate(rng: np.random.Generator,
             stages: np.ndarray,
             events: list[ev.Event],
             population: Population,
             spo2_baseline: float,
             stage_contrast: float = 1.0) -> Drivers:
  """Draws the night's latent physiology. `stages` is the 5-class hypnogram (-1 allowed).

  `stage_contrast` scales how far each stage's autonomic and breathing targets sit from N2's
  (1 = the realistic default; > 1 exaggerates stage signatures, e.g. for a short CPU demo).
  Stages are drawn in a fixed order (movement, breathing, heart, vascular tone), so a seed
  gives the same night.
  """
  st = np.where(stages < 0, 0, stages).astype(np.int8)
  n = int(len(st) * grid.EPOCH_SECONDS * FS)
  night = _Night(st, n, np.arange(n, dtype=np.float64) / FS, stage_contrast)
  movement, posture_changes = _movement(rng, night, events)
  resp_phase, amp, thx_share, paradox = _breathing(rng, night, events, population, movement)
  hr = _heart_rate(rng, night, events, population, movement, amp, resp_phase)
  beat_times, ectopic = _beats(rng, night, hr)
  tone = _vascular_tone(rng, night, events)
  return Drivers(
      duration_s=night.duration,
      stages=st,
      heart_rate=hr,
      beat_times=beat_times,
      ectopic=ectopic,
      resp_phase=resp_phase,
      resp_amplitude=amp.astype(np.float32),
      thx_share=thx_share,
      paradox=paradox,
      vascular_tone=tone.astype(np.float32),
      movement=movement,
      posture_changes=posture_changes,
      spo2_baseline=spo2_baseline)


def _movement(rng: np.random.Generator, night: _Night, events: list[ev.Event]):
  """Body movement: bursts in wake, some at arousals and limb movements."""
  st, n = night.st, night.n
  mv_epochs = np.flatnonzero(
      rng.random(night.n_ep) < np.array([0.35, 0.06, 0.015, 0.005, 0.01])[st])
  mv_start = grid.EPOCH_SECONDS * (mv_epochs + rng.random(mv_epochs.size))
  ar_start, _ = ev.times(events, ev.AROUSAL)
  ar_move = ar_start[rng.random(ar_start.size) < 0.25]
  lm_start, lm_dur = ev.times(events, ev.LIMB_MOVEMENT)
  mv_start_all = np.concatenate([mv_start, ar_move, lm_start])
  mv_dur = np.concatenate(
      [rng.uniform(2.0, 12.0, mv_start.size),
       rng.uniform(1.0, 5.0, ar_move.size), lm_dur])
  movement = noise.event_mask(mv_start_all, mv_dur, n, FS, ramp_s=0.5)
  posture_changes = np.sort(mv_start[rng.random(mv_start.size) < 0.12])
  return movement, posture_changes


def _breathing(rng: np.random.Generator, night: _Night, events: list[ev.Event],
               population: Population, movement: np.ndarray):
  """Breathing phase, tidal amplitude, rib-cage share and paradox."""
  st, n, sh, ra = night.st, night.n, night.sh, night.ra
  rate_table = population.breaths_per_min + rng.normal(0.0, 1.8) + _per_stage(
      rng, sh([1.6, 0.6, 0.0, -0.5, 1.3]), 0.35, 0.4)
  rate = noise.stage_profile(st, _epoch_values(rng, rate_table, st, 0.5), FS, 30.0)
  rate += 0.8 * noise.ou(rng, n, FS, 600.0)
  var_table = _per_stage(rng, ra([0.13, 0.08, 0.05, 0.022, 0.15]), 0.25)
  variability = noise.stage_profile(st, np.clip(var_table, 0.005, None), FS, 20.0)
  freq = rate / 60.0 * (1.0 + variability * noise.band_noise(rng, n, FS, 0.01, 0.2))
  freq *= 1.0 + 0.5 * movement * noise.band_noise(rng, n, FS, None, 0.3)
  resp_starts, resp_durs = ev.times(events, *ev.RESPIRATORY)
  recovery = _bumps(resp_starts + resp_durs, np.ones(resp_starts.size), n, 1.0, 6.0)
  freq *= 1.0 + 0.25 * np.clip(recovery, 0, 1)
  freq = np.clip(freq, 0.05, 1.2)
  resp_phase = np.cumsum(freq, dtype=np.float64) / FS + rng.random()
  amp, paradox = _tidal_amplitude(rng, night, events, recovery)
  thx_share = noise.stage_profile(st, _per_stage(rng, ra([1.0, 1.0, 1.0, 1.0, 0.6]), 0.0, 0.05), FS,
                                  60.0)
  return resp_phase, amp, thx_share, paradox


def _tidal_amplitude(rng: np.random.Generator, night: _Night, events: list[ev.Event],
                     recovery: np.ndarray):
  """Tidal amplitude (sighs, post-event recovery, apnea effort) and paradox."""
  st, n, ra = night.st, night.n, night.ra
  amp_table = _per_stage(rng, ra([1.0, 0.85, 0.95, 1.1, 0.8]), 0.1, 0.05)
  amp_var_table = _per_stage(rng, ra([0.28, 0.15, 0.1, 0.04, 0.28]), 0.25)
  amp = noise.stage_profile(st, _epoch_values(rng, amp_table, st, 0.05), FS, 20.0)
  amp_var = noise.stage_profile(st, amp_var_table, FS, 20.0)
  amp = amp * np.exp(amp_var * noise.ou(rng, n, FS, 6.0))
  sighs = rng.random(night.n_ep) < np.array([0.08, 0.03, 0.01, 0.0, 0.02])[st]
  sigh_t = grid.EPOCH_SECONDS * (np.flatnonzero(sighs) + rng.random(sighs.sum()))
  amp *= 1.0 + _bumps(sigh_t, rng.uniform(0.8, 1.6, sigh_t.size), n, 1.0, 3.0)
  amp *= 1.0 + 0.8 * np.clip(recovery, 0, 1)
  effort = np.ones(n, dtype=np.float32)
  paradox = np.zeros(n, dtype=np.float32)
  for kind, depth, para in ((ev.OBSTRUCTIVE_APNEA, 0.3, 1.0), (ev.CENTRAL_APNEA, 0.95, 0.0),
                            (ev.HYPOPNEA, 0.5, 0.35)):
    s0, d0 = ev.times(events, kind)
    mask = noise.event_mask(s0, d0, n, FS, ramp_s=3.0)
    effort *= 1.0 - depth * mask
    paradox = np.maximum(paradox, para * mask)
  return amp * effort, paradox


def _heart_rate(rng: np.random.Generator, night: _Night, events: list[ev.Event],
                population: Population, movement: np.ndarray, amp: np.ndarray,
                resp_phase: np.ndarray) -> np.ndarray:
  """Instantaneous heart rate (bpm): stage targets, drift, arousals, apneas, HRV, RSA."""
  st, n, sh, ra = night.st, night.n, night.sh, night.ra
  sd_base = 9.0 if population.heart_rate_bpm > 75 else 7.0
  hr_table = population.heart_rate_bpm + rng.normal(0.0, sd_base) + _per_stage(
      rng, sh([7.0, 2.5, 0.0, -3.0, 3.0]), 0.4, 1.2)
  hr = noise.stage_profile(st, _epoch_values(rng, hr_table, st, 1.2), FS, 20.0)
  hr += (-rng.uniform(0.0, 6.0) * night.t / night.duration).astype(np.float32)
  hr += 2.5 * noise.ou(rng, n, FS, 600.0)
  ar_start, _ = ev.times(events, ev.AROUSAL)
  ar_amp = rng.uniform(5.0, 18.0, ar_start.size)
  hr += _bumps(ar_start, ar_amp, n, 2.0, 8.0)
  hr += 12.0 * noise.smooth(movement, FS, 4.0)
  resp_starts, resp_durs = ev.times(events, *ev.RESPIRATORY)
  brady = noise.event_mask(resp_starts, resp_durs, n, FS, ramp_s=8.0)
  hr -= rng.uniform(1.0, 5.0) * brady  # Cyclic variation: slower during apneas.
  lf_table = _per_stage(rng, ra([0.035, 0.028, 0.022, 0.008, 0.035]), 0.3)
  vlf_table = _per_stage(rng, ra([0.03, 0.02, 0.012, 0.004, 0.035]), 0.3)
  hr *= 1.0 + noise.stage_profile(st, lf_table, FS, 20.0) * noise.band_noise(rng, n, FS, 0.04, 0.15)
  hr *= 1.0 + noise.stage_profile(st, vlf_table, FS, 20.0) * noise.band_noise(
      rng, n, FS, 0.008, 0.04)
  rsa_table = population.rsa_scale * _per_stage(rng, ra([0.018, 0.028, 0.035, 0.045, 0.022]), 0.4)
  rsa = noise.stage_profile(st, rsa_table, FS, 20.0) * np.minimum(amp, 2.0)
  hr *= 1.0 + rsa * np.sin(2 * np.pi * (resp_phase - 0.1)).astype(np.float32)
  return np.clip(hr, 35.0, 180.0).astype(np.float32)


def _beats(rng: np.random.Generator, night: _Night, hr: np.ndarray):
  """R-peak times from the heart rate, with jitter and premature ventricular beats."""
  beat_phase = np.cumsum(hr / 60.0, dtype=np.float64) / FS + rng.random()
  beats = np.arange(np.ceil(beat_phase[0]), np.floor(beat_phase[-1]))
  beat_times = np.interp(beats, beat_phase, night.t)
  beat_times += rng.normal(0.0, 0.004, beat_times.size)
  ectopic = rng.random(beat_times.size) < min(0.02, 0.0008 * rng.lognormal(0.0, 1.2))
  ectopic[:1] = False
  rr_prev = np.diff(beat_times, prepend=beat_times[0] - 1.0)
  beat_times = np.where(ectopic, beat_times - 0.3 * rr_prev, beat_times)
  keep = (beat_times > 0) & (beat_times < night.duration)
  return np.sort(beat_times[keep]), ectopic[keep]


def _vascular_tone(rng: np.random.Generator, night: _Night, events: list[ev.Event]):
  """Peripheral vascular tone (PPG amplitude): stage targets and vasoconstriction dips."""
  st, n = night.st, night.n
  tone_table = _per_stage(rng, night.ra([0.95, 0.95, 1.0, 1.15, 0.8]), 0.1, 0.05)
  tone = noise.stage_profile(st, _epoch_values(rng, tone_table, st, 0.06), FS, 30.0)
  tone *= np.exp(0.2 * noise.ou(rng, n, FS, 300.0))
  dips = rng.random(night.n_ep) < np.array([0.25, 0.12, 0.06, 0.02, 0.3])[st]
  ar_start, _ = ev.times(events, ev.AROUSAL)
  dip_t = np.concatenate(
      [grid.EPOCH_SECONDS * (np.flatnonzero(dips) + rng.random(dips.sum())), ar_start])
  dip_depth = rng.uniform(0.2, 0.6, dip_t.size)
  return tone * np.clip(1.0 - _bumps(dip_t, dip_depth, n, 3.0, 10.0, delay_s=2.0), 0.15, 1.0)
