"""Small building blocks shared by the wav2sleep modules.

Shape legend (used across `wav2sleep_jax.models`):
  B nights (batch), S epochs, T samples, L encoder time steps, C channels,
  F features, M modalities (signals), N tokens, H heads, D head dim, K classes.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
  """Activation by name; GELU is the exact erf form (torch's default)."""
  if name == 'gelu':
    return lambda x: jax.nn.gelu(x, approximate=False)
  if name == 'relu':
    return jax.nn.relu
  raise ValueError(f'Unknown activation {name!r} (expected gelu or relu).')


def instance_norm(x_BLC: jax.Array, eps: float, chunk: int | None = None) -> jax.Array:
  """Normalise each channel over time (no affine), like torch InstanceNorm1d.

  Args:
    x_BLC: activations, time on axis 1.
    eps: variance epsilon.
    chunk: if given, normalise each consecutive window of `chunk` steps on its
      own (epoch-local statistics, used by the causal model).
  Returns:
    Normalised activations in the input dtype; statistics in float32.
  """
  dtype = x_BLC.dtype
  x = x_BLC.astype(jnp.float32)
  if chunk is not None:
    b, l, c = x.shape
    x = x.reshape(b, l // chunk, chunk, c)
  mean = x.mean(axis=-2, keepdims=True)
  var = jnp.square(x - mean).mean(axis=-2, keepdims=True)
  y = (x - mean) * jax.lax.rsqrt(var + eps)
  return y.reshape(x_BLC.shape).astype(dtype)


def layer_norm_no_affine(x: jax.Array, eps: float) -> jax.Array:
  """Normalise over the last (channel) axis without scale or bias."""
  dtype = x.dtype
  x = x.astype(jnp.float32)
  mean = x.mean(axis=-1, keepdims=True)
  var = jnp.square(x - mean).mean(axis=-1, keepdims=True)
  return ((x - mean) * jax.lax.rsqrt(var + eps)).astype(dtype)
