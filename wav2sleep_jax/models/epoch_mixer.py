"""Epoch mixer: fuse the per-signal vectors of each epoch with a set transformer."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import nnx

from wav2sleep_jax.models import layers
from wav2sleep_jax.models.config import ModelConfig


class SelfAttention(nnx.Module):
  """Multi-head self-attention with fused q/k/v projection and key padding mask."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    f = cfg.feature_dim
    self.num_heads = cfg.mixer_heads
    dtype = jnp.dtype(cfg.dtype)
    self.qkv = nnx.Linear(f, 3 * f, dtype=dtype, rngs=rngs)
    self.out = nnx.Linear(f, f, dtype=dtype, rngs=rngs)
    self.attn_dropout = nnx.Dropout(cfg.dropout)

  def __call__(self,
               x_BNF: jax.Array,
               valid_BN: jax.Array,
               rngs: nnx.Rngs | None = None) -> jax.Array:
    b, n, f = x_BNF.shape
    h = self.num_heads
    q, k, v = jnp.split(self.qkv(x_BNF).reshape(b, n, 3, h, f // h), 3, axis=2)
    q, k, v = (t[:, :, 0] for t in (q, k, v))  # [B, N, H, D]
    logits_BHNN = jnp.einsum('bqhd,bkhd->bhqk', q, k).astype(jnp.float32)
    logits_BHNN *= (f // h)**-0.5
    logits_BHNN = jnp.where(valid_BN[:, None, None, :], logits_BHNN, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits_BHNN, axis=-1).astype(v.dtype)
    weights = self.attn_dropout(weights, deterministic=rngs is None, rngs=rngs)
    y_BNHD = jnp.einsum('bhqk,bkhd->bqhd', weights, v)
    return self.out(y_BNHD.reshape(b, n, f))


class TransformerLayer(nnx.Module):
  """torch TransformerEncoderLayer: attention, then feed-forward, pre- or post-norm."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    f, dtype = cfg.feature_dim, jnp.dtype(cfg.dtype)
    norm = lambda: nnx.LayerNorm(f, epsilon=cfg.layer_norm_eps, dtype=dtype, rngs=rngs)
    self.activation = cfg.part_activation('mixer')
    self.norm_first = cfg.mixer_norm_first
    self.norm1 = norm()
    self.attn = SelfAttention(cfg, rngs=rngs)
    self.norm2 = norm()
    self.ff1 = nnx.Linear(f, cfg.mixer_ff_dim, dtype=dtype, rngs=rngs)
    self.ff2 = nnx.Linear(cfg.mixer_ff_dim, f, dtype=dtype, rngs=rngs)
    self.dropout_attn = nnx.Dropout(cfg.dropout)
    self.dropout_ff_hidden = nnx.Dropout(cfg.dropout)
    self.dropout_ff = nnx.Dropout(cfg.dropout)

  def __call__(self,
               x_BNF: jax.Array,
               valid_BN: jax.Array,
               rngs: nnx.Rngs | None = None) -> jax.Array:
    act = layers.activation_fn(self.activation)
    drop = dict(deterministic=rngs is None, rngs=rngs)
    attend = lambda x: self.dropout_attn(self.attn(x, valid_BN, rngs), **drop)
    feed = lambda x: self.dropout_ff(
        self.ff2(self.dropout_ff_hidden(act(self.ff1(x)), **drop)), **drop)
    if self.norm_first:
      x_BNF = x_BNF + attend(self.norm1(x_BNF))
      return x_BNF + feed(self.norm2(x_BNF))
    x_BNF = self.norm1(x_BNF + attend(x_BNF))
    return self.norm2(x_BNF + feed(x_BNF))


class EpochMixer(nnx.Module):
  """[B, S, M, F] signal vectors + mask [B, M] -> fused epoch vectors [B, S, F].

  A learnable CLS token (and `mixer_register_tokens` learned register tokens,
  never masked) joins the present signals of every epoch; absent signals are
  masked out of attention; the CLS output is the epoch vector. Without
  positional or modality embeddings the output is invariant to the order of
  the signals.
  """

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cls_token = nnx.Param(jax.random.normal(rngs.params(), (cfg.feature_dim,)) * 0.02)
    r = cfg.mixer_register_tokens
    self.register_tokens = nnx.Param(jax.random.normal(rngs.params(),
                                                       (r, cfg.feature_dim)) * 0.02) if r else None
    self.layers = nnx.List([TransformerLayer(cfg, rngs=rngs) for _ in range(cfg.mixer_layers)])

  def __call__(self,
               z_BSMF: jax.Array,
               mask_BM: jax.Array,
               rngs: nnx.Rngs | None = None) -> jax.Array:
    b, s, m, f = z_BSMF.shape
    chex.assert_shape(mask_BM, (b, m))
    tokens_RF = self.cls_token[...][None]
    if self.register_tokens is not None:
      tokens_RF = jnp.concatenate([tokens_RF, self.register_tokens[...]])
    r = tokens_RF.shape[0]
    tokens_BSRF = jnp.broadcast_to(tokens_RF.astype(z_BSMF.dtype), (b, s, r, f))
    x_BNF = jnp.concatenate([tokens_BSRF, z_BSMF], axis=2).reshape(b * s, m + r, f)
    valid_BN = jnp.concatenate([jnp.ones((b, r), bool), mask_BM], axis=1)
    valid_BN = jnp.repeat(valid_BN, s, axis=0)
    for layer in self.layers:
      x_BNF = layer(x_BNF, valid_BN, rngs)
    return x_BNF[:, 0].reshape(b, s, f)
