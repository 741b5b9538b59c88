"""Loss functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def cross_entropy_sum(logits_BSK: jax.Array, labels_BS: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Summed softmax cross-entropy over epochs with label >= 0, and their count."""
  valid_BS = labels_BS >= 0
  ce_BS = optax.softmax_cross_entropy_with_integer_labels(
      logits_BSK.astype(jnp.float32), jnp.where(valid_BS, labels_BS, 0))
  return jnp.where(valid_BS, ce_BS, 0.0).sum(), valid_BS.sum()
