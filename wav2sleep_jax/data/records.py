"""The stored night: its TFDS feature spec (`night_features`, the one schema) and `to_example`.

Every feature carries its `doc=` (shown by `tfds.core.DatasetInfo`); the builders
store what `to_example` returns, the input pipeline reads it. Imports
`tensorflow_datasets` (no TensorFlow needed).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import tensorflow_datasets as tfds

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import signals

# Features with one entry per stored signal (keys from `signals.feature_key`).
PER_SIGNAL = ('signals', 'present', 'native_rate_hz', 'unit')


def night_features(signal_names: Sequence[str]) -> tfds.features.FeaturesDict:
  """FeaturesDict of a night with one entry per signal in `signal_names`."""
  keys = [signals.feature_key(s) for s in signal_names]

  def per_signal(make, doc: str) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict({k: make(f'{k}: {doc}.') for k in keys},
                                      doc=f'{doc}, per signal.')

  return tfds.features.FeaturesDict({
      'record_id':
          tfds.features.Text(doc='The night, e.g. shhs1-200001 (the EDF stem).'),
      'cohort':
          tfds.features.Text(doc='Cohort or dataset name, e.g. shhs.'),
      'start_time':
          tfds.features.Text(doc="Recording start, ISO 8601 ('' if unknown)."),
      'num_epochs':
          tfds.features.Scalar(dtype=np.int32, doc='Stored 30-s epochs S.'),
      'labels':
          tfds.features.Tensor(
              shape=(None,),
              dtype=np.int8,
              doc='int8 [S]: 0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 unscored (core.stages).'),
      'signals':
          per_signal(
              lambda doc: tfds.features.Tensor(
                  shape=(None,), dtype=np.float32, encoding=tfds.features.Encoding.BYTES, doc=doc),
              'float32 [S * samples per epoch] at the model rate, physical units; empty '
              'when absent'),
      'present':
          per_signal(lambda doc: tfds.features.Scalar(dtype=np.bool_, doc=doc),
                     'whether the signal was found and usable'),
      'native_rate_hz':
          per_signal(lambda doc: tfds.features.Scalar(dtype=np.float32, doc=doc),
                     'sampling rate in the source file (0 when absent)'),
      'unit':
          per_signal(lambda doc: tfds.features.Text(doc=doc),
                     "physical unit in the source file ('' when absent)"),
      'preprocessing':
          tfds.features.Text(doc='JSON of core.preprocessing.Preprocessing: how the night was read.'
                            ),
  })


# The top-level keys of every stored night, in the spec's order.
TOP_KEYS = tuple(night_features(()).keys())


def to_example(
    night: Any,
    signal_names: Sequence[str],
    preprocessing: prep_lib.Preprocessing = prep_lib.Preprocessing()
) -> dict:
  """The stored example of a `psg.night.Night` (numpy values), keys those of `night_features`.

  The night is read with `preprocessing` (stored as JSON, `prep_lib.to_json`).
  """
  per_signal: dict[str, dict[str, Any]] = {group: {} for group in PER_SIGNAL}
  for name in signal_names:
    key = signals.feature_key(name)
    data = night.signals.get(name)
    per_signal['present'][key] = data is not None
    per_signal['signals'][key] = (
        np.zeros(0, np.float32) if data is None else np.asarray(data, np.float32))
    per_signal['native_rate_hz'][key] = np.float32(night.native_rate_hz.get(name, 0.0))
    per_signal['unit'][key] = night.units.get(name, '')
  values = {
      'record_id': night.record_id,
      'cohort': night.cohort,
      'start_time': night.start_time,
      'num_epochs': np.int32(night.num_epochs),
      'labels': np.asarray(night.labels, np.int8),
      'preprocessing': prep_lib.to_json(preprocessing),
      **per_signal,
  }
  return {key: values[key] for key in TOP_KEYS}
