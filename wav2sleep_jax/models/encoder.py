"""Signal encoder: residual strided 1-D CNN from raw samples to per-epoch vectors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.models import layers
from wav2sleep_jax.models.config import ModelConfig


def _conv_padding(cfg: ModelConfig, k: int, s: int) -> tuple[int, int]:
  """Padding giving L/s outputs: symmetric, or causal as `cfg.causal_mode` says."""
  if not cfg.causal or cfg.causal_mode == 'chunked':
    return ((k - 1) // 2, (k - 1) // 2) if k > 1 else (0, 0)
  if cfg.causal_mode == 'conv':  # The reference: pad (k-1) both sides, trim the right.
    return (k - 1, 0)
  return (max(k - s, 0), 0)  # Streaming: the tightest causal window.


class EncoderBlock(nnx.Module):
  """Three conv->norm->act layers halving the length, plus a 1x1 shortcut."""

  def __init__(self, in_channels: int, out_channels: int, cfg: ModelConfig, norm: str, *,
               rngs: nnx.Rngs):
    self.cfg = cfg
    self.norm = norm
    maxpool = cfg.encoder_downsample == 'maxpool'

    def conv(i, o, k, s, bias):
      return nnx.Conv(
          i,
          o,
          kernel_size=(k,),
          strides=(s,),
          padding=(_conv_padding(cfg, k, s),),
          use_bias=bias,
          dtype=jnp.dtype(cfg.dtype),
          rngs=rngs,
          conv_general_dilated=layers.conv_general_dilated)

    bias = norm == 'none'  # The reference's convs have a bias only without a norm.
    self.conv1 = conv(in_channels, out_channels, 3, 1, bias)
    self.conv2 = conv(out_channels, out_channels, 3, 1, bias)
    self.conv3 = conv(out_channels, out_channels, 3, 1 if maxpool else 2, bias)
    self.shortcut = (
        conv(in_channels, out_channels, 1, 1 if maxpool else 2, False)
        if cfg.encoder_residual else None)
    if norm in ('instance', 'none'):
      self.norm1 = self.norm2 = self.norm3 = None
    else:
      groups = cfg.norm_groups(out_channels)
      make = lambda: layers.ChannelNorm(norm, out_channels, cfg.layer_norm_eps, groups)
      self.norm1, self.norm2, self.norm3 = make(), make(), make()

  def _norm(self,
            norm: layers.ChannelNorm | None,
            x_BLC: jax.Array,
            samples_per_epoch: int,
            mask_BL1: jax.Array | None = None) -> jax.Array:
    cfg = self.cfg
    epoch_local = cfg.causal and cfg.causal_mode == 'streaming'
    if self.norm == 'instance':
      chunk = samples_per_epoch if epoch_local else None
      return layers.instance_norm(x_BLC, cfg.instance_norm_eps, chunk=chunk, mask_BL1=mask_BL1)
    if norm is None:
      return x_BLC
    if mask_BL1 is not None:
      return norm(x_BLC, mask_BL1)
    if self.norm == 'group' and epoch_local:
      b, l, c = x_BLC.shape
      return norm(x_BLC.reshape(b, l // samples_per_epoch, samples_per_epoch,
                                c)).reshape(x_BLC.shape)
    return norm(x_BLC)

  def __call__(self,
               x_BLC: jax.Array,
               samples_per_epoch: int,
               valid_B: jax.Array | None = None) -> jax.Array:
    """x_BLC with L = S * samples_per_epoch -> [B, L/2, C_out].

    With `valid_B` (valid epochs per night) the input's padded steps are zeroed
    and kept at zero after each norm, whose statistics cover valid steps only.
    """
    act = layers.activation_fn(self.cfg.part_activation('encoder'))
    maxpool = self.cfg.encoder_downsample == 'maxpool'
    stride = 1 if maxpool else 2
    m1 = m3 = None
    if valid_B is not None:
      m1 = layers.time_mask(valid_B, x_BLC.shape[1], samples_per_epoch)
      m3 = m1 if maxpool else layers.time_mask(valid_B, x_BLC.shape[1] // 2, samples_per_epoch // 2)
      x_BLC = jnp.where(m1, x_BLC, 0)
    keep = lambda y, m: y if m is None else jnp.where(m, y, 0)
    y = keep(act(self._norm(self.norm1, self.conv1(x_BLC), samples_per_epoch, m1)), m1)
    y = keep(act(self._norm(self.norm2, self.conv2(y), samples_per_epoch, m1)), m1)
    y = act(self._norm(self.norm3, self.conv3(y), samples_per_epoch // stride, m3))
    # As the reference: the block's activation follows the (optional) residual add.
    y = act(y + self.shortcut(x_BLC) if self.shortcut is not None else y)
    if maxpool:
      b, l, c = y.shape
      y = y.reshape(b, l // 2, 2, c).max(axis=2)
    return y


def _apply_block(block: EncoderBlock,
                 x_BLC: jax.Array,
                 samples_per_epoch: int,
                 remat: bool,
                 valid_B: jax.Array | None = None) -> jax.Array:
  """block(x_BLC); with `remat`, keep only its input and norm statistics for backward."""
  if not remat:
    return block(x_BLC, samples_per_epoch, valid_B)
  graphdef, state = nnx.split(block)
  fn = lambda st, x, v: nnx.merge(graphdef, st)(x, samples_per_epoch, v)
  policy = jax.checkpoint_policies.save_only_these_names(layers.NORM_STATS)
  return jax.checkpoint(fn, policy=policy)(state, x_BLC, valid_B)


class SignalEncoder(nnx.Module):
  """Raw samples [B, S*k] -> one F-dim vector per epoch [B, S, F]."""

  def __init__(self, name: str, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    self.samples_per_epoch = signals_lib.samples_per_epoch(name)
    channels = cfg.channel_schedule(name)
    ins = (1,) + channels[:-1]
    self.blocks = nnx.List([
        EncoderBlock(i, o, cfg, cfg.block_norm(n), rngs=rngs)
        for n, (i, o) in enumerate(zip(ins, channels))
    ])
    self.proj = nnx.Linear(4 * channels[-1], cfg.feature_dim, dtype=jnp.dtype(cfg.dtype), rngs=rngs)
    self.out_norm = (
        nnx.LayerNorm(
            cfg.feature_dim, epsilon=cfg.layer_norm_eps, dtype=jnp.dtype(cfg.dtype), rngs=rngs)
        if cfg.encoder_output_norm else None)

  def __call__(self, x_BT: jax.Array, valid_epochs_B: jax.Array | None = None) -> jax.Array:
    """[B, S*k] -> [B, S, F]; `valid_epochs_B` makes padded epochs exact (see EncoderBlock).

    Chunked and streaming causal encoders need no mask: every epoch's statistics
    are its own and their convolutions never look right of an epoch.
    """
    b, t = x_BT.shape
    k = self.samples_per_epoch
    if t % k:
      raise ValueError(f'Signal length {t} is not a multiple of {k} samples per epoch.')
    s = t // k
    if self.cfg.causal and self.cfg.causal_mode in ('chunked', 'streaming'):
      valid_epochs_B = None
    if self.cfg.causal and self.cfg.causal_mode == 'chunked':
      x_BT = x_BT.reshape(b * s, k)  # Every epoch encoded on its own.
    h = x_BT[:, :, None].astype(jnp.dtype(self.cfg.dtype))
    for block in self.blocks:
      h = _apply_block(block, h, k, self.cfg.remat, valid_epochs_B)
      k //= 2
    # h: [B, 4S, C]; an epoch's 4 vectors are concatenated in time order.
    c = h.shape[-1]
    act = layers.activation_fn(self.cfg.part_activation('encoder'))
    z_BSF = act(self.proj(h.reshape(b, s, 4 * c)))
    if self.out_norm is not None:
      z_BSF = self.out_norm(z_BSF)
    return z_BSF
