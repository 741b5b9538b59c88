"""Pieces shared by the experiment configs (see default.py for the paper setup)."""

from __future__ import annotations

import dataclasses
import typing

import ml_collections

from wav2sleep_jax.models.config import ModelConfig

# The paper configs' departures from ModelConfig's defaults (the reference HEAD model).
# remat is ours and output-neutral: 10-h nights need it to fit batch 2 in 24 GB (CPU)
# or batch 16 in 80 GB, and it is faster there too (README, Performance).
PAPER_MODEL_OVERRIDES = dict(remat=True)


def _optional_type(hint) -> type:
  """The value type of an `X | None` (or Literal) field annotation."""
  args = [a for a in typing.get_args(hint) if a is not type(None)]
  hint = args[0] if len(args) == 1 else hint
  if typing.get_origin(hint) is typing.Literal:
    return type(typing.get_args(hint)[0])
  return hint


def model_config(**overrides) -> ml_collections.ConfigDict:
  """ModelConfig's defaults as a ConfigDict, with `overrides` (checked by ModelConfig).

  Fields that default to None are typed references, so that
  `--config.model.mixer_activation=relu` works on the command line.
  """
  ModelConfig(**overrides)  # Unknown fields and bad values fail here, by name.
  hints, defaults = typing.get_type_hints(ModelConfig), ModelConfig()
  fields = {}
  for field in dataclasses.fields(ModelConfig):
    value = overrides.get(field.name, getattr(defaults, field.name))
    if field.name == 'encoder_channels':
      value = dict(value)
    elif value is None:
      value = ml_collections.FieldReference(None, field_type=_optional_type(hints[field.name]))
    fields[field.name] = value
  return ml_collections.ConfigDict(fields)


def check_variant(variant: str | None, variants: tuple[str, ...]) -> str:
  """`variant` ('' for None) if it is one of `variants`, else ValueError naming them."""
  variant = variant or ''
  if variant not in variants:
    raise ValueError(f'Unknown config variant {variant!r}; choose from {variants}.')
  return variant


def base_config() -> ml_collections.ConfigDict:
  """Training recipe of the paper (Carter & Tarassenko, ML4H 2024, 'Training')."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = model_config(**PAPER_MODEL_OVERRIDES)
  # Data: TFDS names (tfds_builders/<name>) prepared under data_dir.
  c.data_dir = ''  # '' = TFDS default (~/tensorflow_datasets or $TFDS_DATA_DIR).
  c.train_datasets = ('shhs', 'mesa', 'wsc', 'chat', 'cfs', 'ccshs')
  c.mixture_weights = ()  # () = concatenate (sample in proportion to size).
  c.val_datasets = ('shhs', 'mesa', 'wsc', 'chat', 'cfs', 'ccshs')
  c.test_datasets = ('shhs', 'mesa', 'wsc', 'chat', 'cfs', 'ccshs', 'mros', 'census')
  c.train_epochs = 1200  # 10-h windows.
  # Evaluation (validation, the final test table, `evaluate`): nights are zero-padded to
  # the next multiple of eval_epochs (exact padding: the numbers do not depend on it; it
  # sets the compiled shapes) and cut after eval_max_epochs epochs (0 = whole nights;
  # the scored epochs cut off are counted in every report).
  c.eval_epochs = 1200
  c.eval_max_epochs = 0
  c.batch_size = 16  # Global, in nights (effective batch = batch_size * grad_accum_steps).
  c.eval_batch_size = 16
  c.grad_accum_steps = 1
  c.worker_count = 4
  c.prepare = ''  # '' or 'synthetic' (generate + build the demo cohorts first).
  # Optimisation.
  c.learning_rate = 1e-3
  c.weight_decay = 1e-2
  c.warmup_steps = 2000
  c.decay_tau = 6000.0
  c.grad_clip_norm = 1.0
  c.ema_decay = 0.0  # 0 = no EMA weights.
  c.max_steps = 200_000
  # Augmentation.
  c.mask_probs = ml_collections.ConfigDict(dict(ABD=0.7, THX=0.7, ECG=0.5, PPG=0.1))
  c.backup_signals = ('ECG', 'PPG')
  c.polarity_flip_prob = 0.5
  # Validation, early stopping, checkpoints.
  c.eval_every_steps = 700  # ~ one pass over the training nights at batch 16.
  c.patience = 5
  c.keep_checkpoints = 2
  c.log_every_steps = 50
  # Final evaluation: signal subsets (tuples of signals; () = all available).
  c.eval_subsets = ((), ('ECG',), ('ECG', 'THX'), ('PPG',), ('PPG', 'THX'), ('THX',), ('ABD',))
  return c
