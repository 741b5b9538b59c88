"""Helpers for model tests: small configs and fast random parameters."""

from __future__ import annotations

import jax
import numpy as np

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models.config import ModelConfig

TINY = dict(
    feature_dim=16,
    encoder_initial_channels=4,
    encoder_max_channels=8,
    mixer_heads=2,
    mixer_ff_dim=32,
    sequence_dilations=(1, 2, 4))


def tiny_config(**overrides) -> ModelConfig:
  return ModelConfig(**{**TINY, **overrides})


def random_params(cfg: ModelConfig, seed: int = 0, scale: float = 0.3) -> dict:
  """Gaussian parameters drawn with NumPy (no per-shape XLA compiles)."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda a: (scale * rng.standard_normal(a.shape)).astype(np.float32),
                      model_io.abstract_params(cfg))


def random_signals(names, batch: int, epochs: int, seed: int = 0) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  return {
      n: rng.standard_normal((batch, epochs * signals_lib.samples_per_epoch(n)), dtype=np.float32)
      for n in names
  }
