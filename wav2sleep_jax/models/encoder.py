"""Signal encoder: residual strided 1-D CNN from raw samples to per-epoch vectors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from wav2sleep_jax import signals as signals_lib
from wav2sleep_jax.models import layers
from wav2sleep_jax.models.config import ModelConfig


class EncoderBlock(nnx.Module):
  """Three conv->norm->act layers halving the length, plus a 1x1 shortcut."""

  def __init__(self, in_channels: int, out_channels: int, cfg: ModelConfig,
               *, rngs: nnx.Rngs):
    self.cfg = cfg
    maxpool = cfg.encoder_downsample == 'maxpool'
    causal = cfg.causal

    def conv(i, o, k, s):
      # Output length L/s: symmetric padding, or all of it on the left when causal.
      total = max(k - s, 0) if causal else k - 1
      left = total if causal else total // 2
      return nnx.Conv(i, o, kernel_size=(k,), strides=(s,), padding=((left, total - left),),
                      use_bias=False, dtype=jnp.dtype(cfg.dtype), rngs=rngs,
                      conv_general_dilated=layers.conv_general_dilated)

    self.conv1 = conv(in_channels, out_channels, 3, 1)
    self.conv2 = conv(out_channels, out_channels, 3, 1)
    self.conv3 = conv(out_channels, out_channels, 3, 1 if maxpool else 2)
    self.shortcut = (
        conv(in_channels, out_channels, 1, 1 if maxpool else 2)
        if cfg.encoder_residual else None)

  def _norm(self, x_BLC: jax.Array, samples_per_epoch: int) -> jax.Array:
    cfg = self.cfg
    if cfg.encoder_norm == 'instance':
      chunk = samples_per_epoch if cfg.causal else None
      return layers.instance_norm(x_BLC, cfg.instance_norm_eps, chunk=chunk)
    if cfg.encoder_norm == 'layer':
      return layers.layer_norm_no_affine(x_BLC, cfg.layer_norm_eps)
    return x_BLC

  def __call__(self, x_BLC: jax.Array, samples_per_epoch: int) -> jax.Array:
    """x_BLC with L = S * samples_per_epoch -> [B, L/2, C_out]."""
    act = layers.activation_fn(self.cfg.activation)
    maxpool = self.cfg.encoder_downsample == 'maxpool'
    stride = 1 if maxpool else 2
    y = act(self._norm(self.conv1(x_BLC), samples_per_epoch))
    y = act(self._norm(self.conv2(y), samples_per_epoch))
    y = self.conv3(y)
    y = act(self._norm(y, samples_per_epoch // stride))
    if self.shortcut is not None:
      y = act(y + self.shortcut(x_BLC))
    if maxpool:
      b, l, c = y.shape
      y = y.reshape(b, l // 2, 2, c).max(axis=2)
    return y


def _apply_block(block: EncoderBlock, x_BLC: jax.Array, samples_per_epoch: int,
                 remat: bool) -> jax.Array:
  """block(x_BLC); with `remat`, keep only its input and norm statistics for backward."""
  if not remat:
    return block(x_BLC, samples_per_epoch)
  graphdef, state = nnx.split(block)
  fn = lambda st, x: nnx.merge(graphdef, st)(x, samples_per_epoch)
  policy = jax.checkpoint_policies.save_only_these_names(layers.NORM_STATS)
  return jax.checkpoint(fn, policy=policy)(state, x_BLC)


class SignalEncoder(nnx.Module):
  """Raw samples [B, S*k] -> one F-dim vector per epoch [B, S, F]."""

  def __init__(self, name: str, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    self.samples_per_epoch = signals_lib.samples_per_epoch(name)
    channels = cfg.channel_schedule(name)
    ins = (1,) + channels[:-1]
    self.blocks = nnx.List([
        EncoderBlock(i, o, cfg, rngs=rngs) for i, o in zip(ins, channels)])
    self.proj = nnx.Linear(4 * channels[-1], cfg.feature_dim,
                           dtype=jnp.dtype(cfg.dtype), rngs=rngs)
    self.out_norm = (nnx.LayerNorm(cfg.feature_dim, epsilon=cfg.layer_norm_eps,
                                   dtype=jnp.dtype(cfg.dtype), rngs=rngs)
                     if cfg.encoder_output_norm else None)

  def __call__(self, x_BT: jax.Array) -> jax.Array:
    b, t = x_BT.shape
    k = self.samples_per_epoch
    if t % k:
      raise ValueError(f'Signal length {t} is not a multiple of {k} samples per epoch.')
    s = t // k
    h = x_BT[:, :, None].astype(jnp.dtype(self.cfg.dtype))
    for block in self.blocks:
      h = _apply_block(block, h, k, self.cfg.remat)
      k //= 2
    # h: [B, 4S, C]; an epoch's 4 vectors are concatenated in time order.
    c = h.shape[-1]
    act = layers.activation_fn(self.cfg.activation)
    z_BSF = act(self.proj(h.reshape(b, s, 4 * c)))
    if self.out_norm is not None:
      z_BSF = self.out_norm(z_BSF)
    return z_BSF
