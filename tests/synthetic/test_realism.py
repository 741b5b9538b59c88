"""Synthetic nights against real MIT-BIH slpdb statistics, and per-signal learnability."""

import csv
import os

import numpy as np
import pytest

from wav2sleep_jax import synthetic
from wav2sleep_jax.synthetic import population
from wav2sleep_jax.synthetic import stage_sequence

from . import features

REAL = os.path.join(
    os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'real', 'mitbih_slpdb',
    'derived')
AASM = {'W': 0, 'N1': 1, 'N2': 2, 'N3': 3, 'REM': 4, 'R': 4}


def _real_records():
  if not os.path.isdir(REAL):
    pytest.skip('MIT-BIH slpdb derived files not available')
  out = []
  for rec in ('slp04', 'slp41', 'slp45'):
    with open(os.path.join(REAL, f'{rec}_stages.csv')) as f:
      stages = np.array([AASM.get(r['stage_aasm'], -1) for r in csv.DictReader(f)])
    beats = np.loadtxt(os.path.join(REAL, f'{rec}_beats.csv'), delimiter=',', skiprows=1, usecols=0)
    out.append((stages, beats))
  return out


def _within_epoch_rr_sd(beats, n_epochs):
  rr, t = np.diff(beats), beats[1:]
  ok = (rr > 0.3) & (rr < 2.0)
  rr, epochs = rr[ok], (t[ok] // 30).astype(int)
  return np.median([rr[epochs == e].std() for e in range(n_epochs) if (epochs == e).sum() > 10])


@pytest.mark.slow
def test_heart_and_stage_statistics_resemble_real_records():
  real = _real_records()
  nights = [synthetic.generate_night('shhs', seed=7, night_index=i, hours=6.0) for i in range(3)]
  real_sd = np.mean([_within_epoch_rr_sd(b, len(s)) for s, b in real])
  real_hr = np.mean([60.0 / np.median(np.diff(b)) for _, b in real])
  real_changes = np.mean([np.mean(np.diff(s[s >= 0]) != 0) for s, _ in real])
  synth_changes = np.mean([np.mean(np.diff(n.labels[n.labels >= 0]) != 0) for n in nights])
  hr = [float(np.median(n.channels['H.R.'].data)) for n in nights]
  assert abs(np.mean(hr) - real_hr) < 20.0, (hr, real_hr)
  assert real_changes / 3 < synth_changes < 3 * real_changes, (synth_changes, real_changes)
  # Beat-to-beat variability, from R peaks detected in the synthetic ECG.
  synth_sd = []
  for i in range(2):
    night = synthetic.generate_night('shhs', seed=7, night_index=i, hours=6.0)
    ecg, fs = night.signals['ECG']
    synth_sd.append(_within_epoch_rr_sd(features.r_peaks(ecg, fs), len(night.labels)))
  assert real_sd / 3 < np.mean(synth_sd) < 3 * real_sd, (synth_sd, real_sd)


def test_real_and_synthetic_stage_mix_overlap():
  real = _real_records()
  real_rem = [np.mean(s[s > 0] == 4) for s, _ in real]
  synth = [
      stage_sequence.sleep_statistics(
          stage_sequence.simulate(np.random.default_rng(i), 900, population.OLDER))
      for i in range(10)
  ]
  assert min(real_rem) - 0.1 < np.mean([s['rem_frac'] for s in synth]) < max(real_rem) + 0.1


def _kappa(y, p, k=4):
  cm = np.zeros((k, k))
  np.add.at(cm, (y, p), 1)
  n = cm.sum()
  pe = (cm.sum(0) * cm.sum(1)).sum() / n**2
  return (np.trace(cm) / n - pe) / (1 - pe)


def _context(f):
  f = (f - np.nanmean(f, 0)) / np.nanstd(f, 0)  # Per-night normalisation.
  return np.concatenate([np.roll(f, s, 0) for s in (-2, -1, 0, 1, 2)], axis=1)


@pytest.mark.slow
def test_stages_learnable_from_each_signal_but_not_trivially():
  """A per-epoch Gaussian classifier on simple features: above chance, far from perfect."""
  to4 = np.array([0, 1, 1, 2, 3])
  feats = {'ecg': [], 'thx': [], 'y': []}
  for i in range(7):
    night = synthetic.generate_night('shhs', seed=21, night_index=i, hours=5.0)
    n = len(night.labels)
    feats['ecg'].append(
        _context(features.epoch_features(features.r_peaks(*night.signals['ECG']), n)))
    feats['thx'].append(
        _context(features.epoch_features(features.breath_onsets(*night.signals['THOR RES']), n)))
    feats['y'].append(night.labels)
  feats['both'] = [np.concatenate(p, 1) for p in zip(feats['ecg'], feats['thx'])]
  kappas = {}
  for key in ('ecg', 'thx', 'both'):
    x_tr, y_tr = np.concatenate(feats[key][:5]), np.concatenate(feats['y'][:5])
    x_te, y_te = np.concatenate(feats[key][5:]), np.concatenate(feats['y'][5:])
    ok = (y_tr >= 0) & ~np.isnan(x_tr).any(1)
    x_tr, y_tr = x_tr[ok], to4[y_tr[ok]]
    ok = (y_te >= 0) & ~np.isnan(x_te).any(1)
    x_te, y_te = x_te[ok], to4[y_te[ok]]
    scores = []
    for c in range(4):
      xc = x_tr[y_tr == c]
      cov = np.cov(xc.T) + 1e-2 * np.eye(x_tr.shape[1])
      d = x_te - xc.mean(0)
      scores.append(-0.5 * np.einsum('ij,jk,ik->i', d, np.linalg.inv(cov), d) -
                    0.5 * np.linalg.slogdet(cov)[1] + np.log(np.mean(y_tr == c)))
    kappas[key] = _kappa(y_te, np.argmax(scores, 0))
  assert 0.08 < kappas['ecg'] < 0.8, kappas
  assert 0.05 < kappas['thx'] < 0.8, kappas  # Breath timing alone is the weakest cue.
  assert kappas['both'] > max(kappas['ecg'], kappas['thx']), kappas
