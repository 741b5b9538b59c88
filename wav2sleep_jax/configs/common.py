"""Pieces shared by the experiment configs (see default.py for the paper setup)."""

from __future__ import annotations

import ml_collections

from wav2sleep_jax.core import signals as signals_lib


def model_config(signals=signals_lib.CARDIORESPIRATORY, num_classes: int = 4
                 ) -> ml_collections.ConfigDict:
  """Reference HEAD model hyper-parameters (fields of models.ModelConfig)."""
  return ml_collections.ConfigDict(dict(
      signals=tuple(signals), num_classes=num_classes, feature_dim=128,
      activation='gelu', encoder_initial_channels=16, encoder_max_channels=128,
      encoder_channels={}, encoder_norm='instance', instance_norm_eps=1e-2,
      encoder_downsample='stride', encoder_residual=True, encoder_output_norm=False,
      encoder_impl='auto', mixer_layers=2, mixer_heads=8, mixer_ff_dim=512, dropout=0.1,
      sequence_blocks=2, sequence_kernel_size=7, sequence_dilations=(1, 2, 4, 8, 16, 32),
      sequence_norm='layer', layer_norm_eps=1e-5, causal=False, dtype='float32',
      # Ours, output-neutral: 10-h nights need it to fit batch 2 in 24 GB (CPU) or
      # batch 16 in 80 GB, and it is faster there too (README, Performance).
      remat=True))


def base_config() -> ml_collections.ConfigDict:
  """Training recipe of the paper (Carter & Tarassenko, ML4H 2024, 'Training')."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = model_config()
  # Data: TFDS names (tfds_builders/<name>) prepared under data_dir.
  c.data_dir = ''  # '' = TFDS default (~/tensorflow_datasets or $TFDS_DATA_DIR).
  c.train_datasets = ('shhs', 'mesa', 'wsc', 'chat', 'cfs', 'ccshs')
  c.mixture_weights = ()  # () = concatenate (sample in proportion to size).
  c.val_datasets = ('shhs', 'mesa', 'wsc', 'chat', 'cfs', 'ccshs')
  c.test_datasets = ('shhs', 'mesa', 'wsc', 'chat', 'cfs', 'ccshs', 'mros', 'census')
  c.train_epochs = 1200  # 10-h windows.
  c.eval_epochs = 1200
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
  c.eval_subsets = ((), ('ECG',), ('ECG', 'THX'), ('PPG',), ('PPG', 'THX'), ('THX',),
                    ('ABD',))
  return c
