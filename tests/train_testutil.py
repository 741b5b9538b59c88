"""In-memory nights in the prepared-dataset format, for pipeline and training tests."""

from __future__ import annotations

import functools

import numpy as np
from ml_collections import ConfigDict

from wav2sleep_jax import synthetic
from wav2sleep_jax.configs import common
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.core.signals import feature_key
from wav2sleep_jax.psg import resample
from tests import model_testutil


@functools.lru_cache(maxsize=None)
def synthetic_nights(cohort: str, count: int, hours: float, seed: int = 0) -> tuple[dict, ...]:
  """Nights of a synthetic cohort, resampled to the model rates (like the builders)."""
  nights = []
  for i in range(count):
    night = synthetic.generate_night(cohort, seed=seed, night_index=i, hours=hours)
    epochs = len(night.labels)
    example = {
        'record_id': night.record_id,
        'cohort': cohort,
        'labels': night.labels,
        'num_epochs': epochs,
        'signals': {},
        'present': {}
    }
    for name in signals_lib.CARDIORESPIRATORY:
      channel = next((c for c in night.channels.values() if c.source == name), None)
      key = feature_key(name)
      if channel is None:
        example['signals'][key] = np.zeros(0, np.float32)
        example['present'][key] = False
        continue
      example['signals'][key] = resample.resample_to_epochs(
          channel.data, channel.rate, signals_lib.samples_per_epoch(name), max_epochs=epochs)
      example['present'][key] = True
    nights.append(example)
  return tuple(nights)


# The tiny model of the training tests (two dilations keep the receptive field short).
TINY_TRAIN_MODEL = {**model_testutil.TINY, 'sequence_dilations': (1, 2)}


def tiny_train_config(**overrides) -> ConfigDict:
  """A fast config: tiny model, 8-epoch windows, in-memory data."""
  c = common.base_config()
  c.model.update(**TINY_TRAIN_MODEL)
  c.update(
      train_epochs=8,
      eval_epochs=16,
      batch_size=2,
      eval_batch_size=2,
      worker_count=0,
      warmup_steps=2,
      learning_rate=3e-3,
      decay_tau=1000.0,
      eval_every_steps=5,
      log_every_steps=5,
      max_steps=10,
      patience=100,
      eval_subsets=((), ('ECG',)))
  for k, v in overrides.items():
    c[k] = v
  return c
