"""`BuilderTestCase`: `tfds.testing.DatasetBuilderTestCase`, or a TF-free twin.

`DatasetBuilderTestCase` needs TensorFlow (it reads back through `tf.data`).
Without TensorFlow, `BuilderTestCase` is an `absltest.TestCase` with the same
class attributes (DATASET_CLASS, SPLITS, BUILDER_CONFIG_NAMES_TO_TEST,
EXAMPLE_DIR) that builds the dummy data to array_record in a temporary folder
and reads it back with `as_data_source()`.
"""

from __future__ import annotations

import importlib.util
import tempfile
from typing import Any, Mapping, Sequence

from absl.testing import absltest
from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.data import records

HAS_TF = all(importlib.util.find_spec(m) is not None
             for m in ('tensorflow', 'dill'))


def _text(value: Any) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def check_example(test: absltest.TestCase, example: Mapping[str, Any],
                  signal_names: Sequence[str]) -> None:
  """Asserts the stored format of one night (keys, dtypes, lengths)."""
  features = records.night_features(signal_names)
  test.assertEqual(set(example), set(features.keys()))
  for group in records.PER_SIGNAL:
    test.assertEqual(set(example[group]), set(features[group].keys()), group)
  num_epochs = int(example['num_epochs'])
  test.assertGreater(num_epochs, 0)
  labels = np.asarray(example['labels'])
  test.assertEqual(labels.dtype, np.int8)
  test.assertEqual(labels.shape, (num_epochs,))
  test.assertTrue(np.isin(labels, [-1, 0, 1, 2, 3, 4]).all())
  test.assertTrue((labels >= 0).any())
  test.assertTrue(_text(example['record_id']).startswith(
      _text(example['cohort'])))
  for name in signal_names:
    key = grid.feature_key(name)
    data = np.asarray(example['signals'][key])
    test.assertEqual(data.dtype, np.float32)
    if example['present'][key]:
      test.assertEqual(data.shape, (num_epochs * grid.SAMPLES_PER_EPOCH[name],))
      test.assertTrue(np.isfinite(data).all())
      test.assertGreater(float(example['native_rate_hz'][key]), 0)
    else:
      test.assertEqual(data.shape, (0,))
      test.assertEqual(float(example['native_rate_hz'][key]), 0)
  test.assertTrue(any(example['present'].values()))


class _TfFreeBuilderTestCase(absltest.TestCase):
  """Builds DATASET_CLASS over its dummy data without TensorFlow."""

  DATASET_CLASS: type[tfds.core.DatasetBuilder] | None = None
  SPLITS: Mapping[str, int] = {}
  BUILDER_CONFIG_NAMES_TO_TEST: Sequence[Any] | None = None
  EXAMPLE_DIR: str | None = None
  SKIP_CHECKSUMS = True

  @classmethod
  def dummy_data(cls) -> epath.Path:
    if cls.EXAMPLE_DIR is not None:
      return epath.Path(cls.EXAMPLE_DIR)
    return cls.DATASET_CLASS.code_path.parent / 'dummy_data'

  def test_registered(self):
    self.assertIn(self.DATASET_CLASS.name, tfds.list_builders(
        with_community_datasets=False))

  def test_download_and_prepare_as_data_source(self):
    # The `reference` config of every NSRR builder shares one code path: tested where
    # a test case names it (shhs), not again for every cohort.
    configs = (self.BUILDER_CONFIG_NAMES_TO_TEST
               or [c.name for c in self.DATASET_CLASS.BUILDER_CONFIGS
                   if c.name != nsrr_builder.REFERENCE_CONFIG.name])
    for config in configs:
      with self.subTest(str(getattr(config, 'name', config))), \
          tempfile.TemporaryDirectory() as data_dir:
        builder = self.DATASET_CLASS(data_dir=data_dir, config=config)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                manual_dir=self.dummy_data()),
            file_format='array_record')
        self.assertEqual(
            {s: i.num_examples for s, i in builder.info.splits.items()},
            dict(self.SPLITS))
        for name in ('csv', 'json'):
          self.assertTrue((epath.Path(builder.data_dir) /
                           f'{nsrr_builder.SKIP_REPORT_NAME}.{name}').exists())
        signal_names = builder.builder_config.signals
        seen = set()
        for split, source in builder.as_data_source().items():
          for i in range(len(source)):
            example = source[i]
            check_example(self, example, signal_names)
            seen.add(_text(example['record_id']))
        self.assertLen(seen, sum(self.SPLITS.values()))


if HAS_TF:
  BuilderTestCase = tfds.testing.DatasetBuilderTestCase
else:
  BuilderTestCase = _TfFreeBuilderTestCase


def main() -> None:
  absltest.main()
