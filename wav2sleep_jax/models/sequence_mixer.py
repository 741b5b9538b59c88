"""Sequence mixer: residual dilated 1-D convolutions over the night's epochs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from wav2sleep_jax.models import layers
from wav2sleep_jax.models.config import ModelConfig


class DilatedBlock(nnx.Module):
  """Stack of dilated conv -> channel layer norm -> act, with a residual add."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    f, dtype = cfg.feature_dim, jnp.dtype(cfg.dtype)
    self.cfg = cfg
    self.convs = nnx.List([
        nnx.Conv(f, f, kernel_size=(cfg.sequence_kernel_size,),
                 kernel_dilation=(d,), padding='VALID', use_bias=False,
                 dtype=dtype, rngs=rngs)
        for d in cfg.sequence_dilations])
    self.norms = nnx.List([
        nnx.LayerNorm(f, epsilon=cfg.layer_norm_eps, dtype=dtype, rngs=rngs)
        if cfg.sequence_norm == 'layer' else None
        for _ in cfg.sequence_dilations])
    self.dropout = nnx.Dropout(cfg.dropout)

  def __call__(self, x_BSF: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
    act = layers.activation_fn(self.cfg.activation)
    k = self.cfg.sequence_kernel_size
    y = x_BSF
    for conv, norm, d in zip(self.convs, self.norms, self.cfg.sequence_dilations):
      total = d * (k - 1)
      left = total if self.cfg.causal else total // 2
      y = conv(jnp.pad(y, ((0, 0), (left, total - left), (0, 0))))
      y = act(norm(y) if norm is not None else y)
    return act(x_BSF + self.dropout(y, deterministic=rngs is None, rngs=rngs))


class SequenceMixer(nnx.Module):
  """[B, S, F] -> [B, S, F] through residual dilated-conv blocks."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.blocks = nnx.List([DilatedBlock(cfg, rngs=rngs)
                            for _ in range(cfg.sequence_blocks)])

  def __call__(self, x_BSF: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
    for block in self.blocks:
      x_BSF = block(x_BSF, rngs)
    return x_BSF
