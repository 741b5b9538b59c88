"""One training step: optimizer, learning-rate schedule and the pure jitted update.

  tx = make_optimizer(config)
  state = create_train_state(config, params, tx)
  train_step = jax.jit(make_train_step(graphdef, config, tx, signals))
  state, metrics = train_step(state, batch, rng)
"""

from __future__ import annotations

from typing import Any

from flax import nnx
from flax import struct
import jax
import jax.numpy as jnp
import optax

from wav2sleep_jax.models import cpu_fast_paths
from wav2sleep_jax.models import losses
from wav2sleep_jax.training import augment


class TrainState(struct.PyTreeNode):
  step: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any  # {} when EMA is off.


class NonFiniteLossError(FloatingPointError):
  """The training loss became NaN/inf; the run stops without checkpointing it."""


def learning_rate_schedule(config) -> optax.Schedule:
  """Linear warm-up, then lr * exp(-(step - warmup) / tau), as in the wav2sleep paper."""
  warmup = optax.linear_schedule(0.0, config.learning_rate, max(config.warmup_steps, 1))
  decay = lambda step: config.learning_rate * jnp.exp(-step / config.decay_tau)
  return optax.join_schedules([warmup, decay], [config.warmup_steps])


def make_optimizer(config) -> optax.GradientTransformation:
  tx = optax.chain(
      optax.clip_by_global_norm(config.grad_clip_norm),
      optax.adamw(learning_rate_schedule(config), weight_decay=config.weight_decay))
  if config.grad_accum_steps > 1:
    tx = optax.MultiSteps(tx, every_k_schedule=config.grad_accum_steps)
  return tx


def create_train_state(config,
                       params: Any,
                       tx: optax.GradientTransformation | None = None) -> TrainState:
  """Step 0: `params`, the optimizer's state for them, the EMA copy if config.ema_decay."""
  tx = make_optimizer(config) if tx is None else tx
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=tx.init(params),
      ema_params=params if config.ema_decay else {})


def make_train_step(graphdef, config, tx, signals):
  """Pure train_step(state, batch, rng) -> (state, metrics)."""
  drop_M = jnp.array([config.mask_probs.get(s, 0.0) for s in signals], jnp.float32)
  backup_M = jnp.array([s in config.backup_signals for s in signals])
  schedule = learning_rate_schedule(config)

  def train_step(state: TrainState, batch, rng):
    rng = jax.random.fold_in(rng, state.step)
    mask_rng, flip_rng, dropout_rng = jax.random.split(rng, 3)
    mask_BM = augment.sample_signal_mask(mask_rng, batch['present'], drop_M, backup_M)
    x = augment.flip_polarity(flip_rng, batch['signals'], config.polarity_flip_prob)

    def loss_fn(params):
      model = nnx.merge(graphdef, params)
      valid_B = batch['valid_epochs'] if model.cfg.exact_padding else None
      logits_BSK = model(x, mask_BM, rngs=nnx.Rngs(dropout=dropout_rng), valid_epochs_B=valid_B)
      loss_sum, count = losses.cross_entropy_sum(logits_BSK, batch['labels'])
      return loss_sum / jnp.maximum(count, 1), (logits_BSK, count)

    (loss, (logits_BSK, count)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema_params
    if config.ema_decay:
      ema = optax.incremental_update(params, ema, 1.0 - config.ema_decay)
    valid = batch['labels'] >= 0
    metrics = {
        'loss':
            loss,
        'accuracy':
            ((logits_BSK.argmax(-1) == batch['labels']) & valid).sum() / jnp.maximum(count, 1),
        'grad_norm':
            optax.global_norm(grads),
        'learning_rate':
            schedule(state.step // config.grad_accum_steps),
        'signals_kept':
            mask_BM.sum() / jnp.maximum(batch['present'].sum(), 1),
    }
    return state.replace(
        step=state.step + 1, params=params, opt_state=opt_state, ema_params=ema), metrics

  return cpu_fast_paths.per_platform(train_step)
