"""Training-time augmentation: stochastic signal masking and polarity flips.

Pure functions of (rng, batch arrays); nothing is edited in place.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp


def sample_signal_mask(rng: jax.Array, present_BM: jax.Array, drop_prob_M: jax.Array,
                       backup_M: jax.Array) -> jax.Array:
  """Randomly drop present signals, never all of them (wav2sleep paper, Training).

  Each present signal is dropped with its own probability. If a night loses
  every signal, one is kept: chosen uniformly among its present backup signals
  (ECG, PPG), or among all its present signals if it has no backup.

  Args:
    rng: PRNG key.
    present_BM: bool, which signals each night has.
    drop_prob_M: float drop probability per signal.
    backup_M: bool, which signals may be restored as the sole input.
  Returns:
    bool [B, M] mask, a subset of `present_BM`, non-empty where `present_BM` is.
  """
  drop_rng, pick_rng = jax.random.split(rng)
  keep_BM = present_BM & (jax.random.uniform(drop_rng, present_BM.shape) >= drop_prob_M)
  backups_BM = present_BM & backup_M
  candidates_BM = jnp.where(backups_BM.any(-1, keepdims=True), backups_BM, present_BM)
  gumbel_BM = jax.random.gumbel(pick_rng, present_BM.shape)
  pick_B = jnp.argmax(jnp.where(candidates_BM, gumbel_BM, -jnp.inf), axis=-1)
  pick_BM = jax.nn.one_hot(pick_B, present_BM.shape[-1], dtype=bool) & candidates_BM
  emptied_B = ~keep_BM.any(-1)
  return jnp.where(emptied_B[:, None], pick_BM, keep_BM)


def flip_polarity(rng: jax.Array,
                  x: Mapping[str, jax.Array],
                  prob: float,
                  names: Sequence[str] | None = None) -> dict[str, jax.Array]:
  """Multiply each signal of each night by -1 with probability `prob`."""
  names = list(x) if names is None else list(names)
  keys = jax.random.split(rng, len(names))
  out = dict(x)
  for key, name in zip(keys, names):
    x_BT = x[name]
    flip_B = jax.random.bernoulli(key, prob, (x_BT.shape[0],))
    out[name] = jnp.where(flip_B[:, None], -x_BT, x_BT)
  return out
