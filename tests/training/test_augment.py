"""Signal masking and polarity augmentation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from wav2sleep_jax.training import augment

SIGNALS = ('ECG', 'PPG', 'ABD', 'THX')
DROP = jnp.array([0.5, 0.1, 0.7, 0.7])
BACKUP = jnp.array([True, True, False, False])


def _present(n, seed=0):
  rng = np.random.default_rng(seed)
  present = rng.random((n, 4)) < 0.6
  present[0] = [False, False, True, True]  # No backup present at all.
  present[1] = [True, False, False, False]  # A single signal.
  present[2] = [False, False, False, False]  # Padding night.
  present[3] = [False, True, True, False]
  return jnp.asarray(present)


def test_mask_is_subset_and_never_empty():
  present = _present(4000)
  for seed in range(3):
    mask = np.asarray(augment.sample_signal_mask(jax.random.key(seed), present, DROP, BACKUP))
    p = np.asarray(present)
    assert not (mask & ~p).any(), 'kept a signal the night does not have'
    has_any = p.any(1)
    assert mask[has_any].any(1).all(), 'removed every signal of a night'
    assert not mask[~has_any].any()


def test_restored_signal_is_a_present_backup():
  present = jnp.asarray(np.tile([[True, True, True, True]], (20000, 1)))
  drop_all = jnp.ones(4)
  mask = np.asarray(augment.sample_signal_mask(jax.random.key(1), present, drop_all, BACKUP))
  assert (mask.sum(1) == 1).all()
  assert not mask[:, 2:].any(), 'restored a non-backup signal although backups were present'
  share_ecg = mask[:, 0].mean()
  assert 0.47 < share_ecg < 0.53  # Uniform among the two backups.
  # Only PPG present among backups -> PPG always restored.
  present_ppg = present.at[:, 0].set(False)
  mask = np.asarray(augment.sample_signal_mask(jax.random.key(2), present_ppg, drop_all, BACKUP))
  assert mask[:, 1].all() and mask.sum(1).max() == 1
  # No backup present -> one of the present signals.
  only_belts = present.at[:, :2].set(False)
  mask = np.asarray(augment.sample_signal_mask(jax.random.key(3), only_belts, drop_all, BACKUP))
  assert (mask.sum(1) == 1).all() and not mask[:, :2].any()


def test_drop_rates_follow_probabilities():
  present = jnp.ones((40000, 4), bool)
  mask = np.asarray(augment.sample_signal_mask(jax.random.key(4), present, DROP, BACKUP))
  kept = mask.mean(0)
  # Kept rate = 1 - p, slightly raised by restoring backups when all are dropped.
  assert abs(kept[2] - 0.3) < 0.02 and abs(kept[3] - 0.3) < 0.02
  assert abs(kept[1] - 0.9) < 0.02
  all_dropped = np.prod(np.asarray(DROP))
  assert abs(kept[0] - (0.5 + all_dropped / 2)) < 0.02


def test_polarity_flip_per_night_and_signal():
  x = {'ECG': jnp.ones((2000, 8)), 'THX': jnp.ones((2000, 4)) * 2}
  out = augment.flip_polarity(jax.random.key(0), x, prob=0.5)
  ecg, thx = np.asarray(out['ECG']), np.asarray(out['THX'])
  assert set(np.unique(ecg)) == {-1.0, 1.0} and set(np.unique(thx)) == {-2.0, 2.0}
  assert (ecg == ecg[:, :1]).all(), 'a night must be flipped as a whole'
  assert 0.45 < (ecg[:, 0] < 0).mean() < 0.55
  assert 0.4 < ((ecg[:, 0] < 0) == (thx[:, 0] < 0)).mean() < 0.6  # Independent signals.
  none = augment.flip_polarity(jax.random.key(0), x, prob=0.0)
  np.testing.assert_array_equal(np.asarray(none['ECG']), np.asarray(x['ECG']))
