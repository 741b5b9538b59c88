"""TFDS feature spec of one stored night (shared by the builders and readers).

Imports `tensorflow_datasets` (no TensorFlow needed); keys are described in
`wav2sleep_jax/builders/nsrr_builder.py` and produced by `nights.to_example`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow_datasets as tfds

from wav2sleep_jax.core import signals


def night_features(signal_names: Sequence[str]) -> tfds.features.FeaturesDict:
  """FeaturesDict of a night with one entry per signal in `signal_names`."""
  keys = [signals.feature_key(s) for s in signal_names]

  def per_signal(make) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({k: make() for k in keys})

  return tfds.features.FeaturesDict({
      'record_id': tfds.features.Text(),
      'cohort': tfds.features.Text(),
      'start_time': tfds.features.Text(),
      'num_epochs': tfds.features.Scalar(dtype=np.int32),
      'labels': tfds.features.Tensor(shape=(None,), dtype=np.int8),
      'signals': per_signal(lambda: tfds.features.Tensor(
          shape=(None,), dtype=np.float32,
          encoding=tfds.features.Encoding.BYTES)),
      'present': per_signal(lambda: tfds.features.Scalar(dtype=np.bool_)),
      'native_rate_hz': per_signal(
          lambda: tfds.features.Scalar(dtype=np.float32)),
      'unit': per_signal(tfds.features.Text),
      'preprocessing': tfds.features.Text(),  # JSON of core.preprocessing.Preprocessing.
  })
