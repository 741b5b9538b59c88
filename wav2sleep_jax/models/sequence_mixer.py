"""Sequence mixer: residual dilated 1-D convolutions over the night's epochs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from wav2sleep_jax.models import layers
from wav2sleep_jax.models.config import ModelConfig


class DilatedBlock(nnx.Module):
  """Stack of dilated conv -> norm -> act, with a residual add."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    f, dtype = cfg.feature_dim, jnp.dtype(cfg.dtype)
    self.cfg = cfg
    norm = cfg.sequence_norm
    self.convs = nnx.List([
        nnx.Conv(
            f,
            f,
            kernel_size=(cfg.sequence_kernel_size,),
            kernel_dilation=(d,),
            padding='VALID',
            use_bias=norm == 'none',
            dtype=dtype,
            rngs=rngs) for d in cfg.sequence_dilations
    ])
    parametric = norm not in ('instance', 'none')
    self.norms = nnx.List([
        layers.ChannelNorm(norm, f, cfg.layer_norm_eps, cfg.norm_groups(f)) if parametric else None
        for _ in cfg.sequence_dilations
    ])
    rate = cfg.dropout if cfg.sequence_dropout is None else cfg.sequence_dropout
    self.dropout = nnx.Dropout(rate)

  def _norm(self, norm: layers.ChannelNorm | None, y_BSF: jax.Array,
            mask_BS1: jax.Array | None) -> jax.Array:
    if self.cfg.sequence_norm == 'instance':  # torch InstanceNorm1d over the night.
      return layers.instance_norm(y_BSF, self.cfg.layer_norm_eps, mask_BL1=mask_BS1)
    if norm is None:
      return y_BSF
    return norm(y_BSF) if mask_BS1 is None else norm(y_BSF, mask_BS1)

  def __call__(self,
               x_BSF: jax.Array,
               rngs: nnx.Rngs | None = None,
               mask_BS1: jax.Array | None = None) -> jax.Array:
    """`mask_BS1` (valid epochs): padded epochs are zeroed before every conv and
    left out of norm statistics, so valid epochs equal the unpadded night's."""
    act = layers.activation_fn(self.cfg.part_activation('sequence'))
    k = self.cfg.sequence_kernel_size
    y = x_BSF
    for conv, norm, d in zip(self.convs, self.norms, self.cfg.sequence_dilations):
      total = d * (k - 1)
      left = total if self.cfg.sequence_is_causal else total // 2
      if mask_BS1 is not None:
        y = jnp.where(mask_BS1, y, 0)
      y = conv(jnp.pad(y, ((0, 0), (left, total - left), (0, 0))))
      y = act(self._norm(norm, y, mask_BS1))
    return act(x_BSF + self.dropout(y, deterministic=rngs is None, rngs=rngs))


class SequenceMixer(nnx.Module):
  """[B, S, F] -> [B, S, F] through residual dilated-conv blocks."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.blocks = nnx.List([DilatedBlock(cfg, rngs=rngs) for _ in range(cfg.sequence_blocks)])

  def __call__(self,
               x_BSF: jax.Array,
               rngs: nnx.Rngs | None = None,
               valid_epochs_B: jax.Array | None = None) -> jax.Array:
    mask_BS1 = (None
                if valid_epochs_B is None else layers.time_mask(valid_epochs_B, x_BSF.shape[1], 1))
    for block in self.blocks:
      x_BSF = block(x_BSF, rngs, mask_BS1)
    return x_BSF
