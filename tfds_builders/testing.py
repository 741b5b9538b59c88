"""`BuilderTestCase`: `tfds.testing.DatasetBuilderTestCase`, or a TF-free twin.

`DatasetBuilderTestCase` needs TensorFlow (it reads back through `tf.data`).
Without TensorFlow, `BuilderTestCase` is an `absltest.TestCase` with the same
class attributes (DATASET_CLASS, SPLITS, BUILDER_CONFIG_NAMES_TO_TEST,
EXAMPLE_DIR, OVERLAPPING_SPLITS) and the same checks, that builds the dummy
data (array_record, the builders' default) in a temporary folder and reads it
back with `as_data_source()`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import tempfile
from typing import Any, Iterable, Mapping, Sequence
from unittest import mock

from absl.testing import absltest
from etils import epath
import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import dataset_metadata

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.data import records

HAS_TF = all(importlib.util.find_spec(m) is not None for m in ('tensorflow', 'dill'))


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
  test.assertTrue(_text(example['record_id']).startswith(_text(example['cohort'])))
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


def example_digest(example: Mapping[str, Any]) -> str:
  """A hash of an example's keys and values (nested dicts, arrays, scalars, bytes)."""
  digest = hashlib.md5()

  def update(value: Any) -> None:
    if isinstance(value, Mapping):
      for key in sorted(value):
        digest.update(str(key).encode())
        update(value[key])
    else:
      array = np.asarray(value)
      digest.update(f'{array.dtype.str}{array.shape}'.encode())
      digest.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())

  update(example)
  return digest.hexdigest()


class _TfFreeBuilderTestCase(absltest.TestCase):
  """Builds DATASET_CLASS over its dummy data without TensorFlow.

  Checks what `DatasetBuilderTestCase` checks: base class, registration, info
  name, valid tags, keys that hold no local path, examples per split (also
  after a reload), no example shared between splits (unless named in
  OVERLAPPING_SPLITS), a default config among the configs; and the stored
  night's format (`check_example`).
  """

  DATASET_CLASS: type[tfds.core.DatasetBuilder] | None = None
  SPLITS: Mapping[str, int] = {}
  BUILDER_CONFIG_NAMES_TO_TEST: Sequence[Any] | None = None
  EXAMPLE_DIR: str | None = None
  OVERLAPPING_SPLITS: Sequence[str] = ()
  SKIP_CHECKSUMS = True

  @classmethod
  def dummy_data(cls) -> epath.Path:
    if cls.EXAMPLE_DIR is not None:
      return epath.Path(cls.EXAMPLE_DIR)
    return cls.DATASET_CLASS.code_path.parent / 'dummy_data'

  def test_baseclass(self):
    self.assertTrue(issubclass(self.DATASET_CLASS, tfds.core.DatasetBuilder))

  def test_registered(self):
    self.assertIn(self.DATASET_CLASS.name, tfds.list_builders(with_community_datasets=False))

  def test_info(self):
    with tempfile.TemporaryDirectory() as data_dir:
      builder = self.DATASET_CLASS(data_dir=data_dir)
      self.assertIsInstance(builder.info, tfds.core.DatasetInfo)
      self.assertEqual(builder.info.name, builder.name)

  def test_tags_are_valid(self):
    tags = set(self.DATASET_CLASS.get_metadata().tags)
    self.assertEmpty(tags - set(dataset_metadata.valid_tags()))

  def test_default_config_is_a_config(self):
    if self.DATASET_CLASS.DEFAULT_BUILDER_CONFIG_NAME:
      self.assertIn(self.DATASET_CLASS.DEFAULT_BUILDER_CONFIG_NAME,
                    {c.name for c in self.DATASET_CLASS.BUILDER_CONFIGS})

  def test_download_and_prepare_as_data_source(self):
    # The `reference` config of every NSRR builder shares one code path: tested where
    # a test case names it (shhs), not again for every cohort.
    configs = (
        self.BUILDER_CONFIG_NAMES_TO_TEST or [
            c.name
            for c in self.DATASET_CLASS.BUILDER_CONFIGS
            if c.name != nsrr_builder.REFERENCE_CONFIG.name
        ])
    for config in configs:
      with self.subTest(str(getattr(config, 'name', config))), \
          tempfile.TemporaryDirectory() as data_dir:
        builder = self.DATASET_CLASS(data_dir=data_dir, config=config)
        self._prepare(builder)
        for name in ('csv', 'json'):
          self.assertTrue(
              (epath.Path(builder.data_dir) / f'{nsrr_builder.SKIP_REPORT_NAME}.{name}').exists())
        self._check_splits(builder)
        reloaded = self.DATASET_CLASS(data_dir=data_dir, config=builder.builder_config)
        self._check_splits(reloaded)  # Metadata and examples as read back from disk.

  def _prepare(self, builder: tfds.core.DatasetBuilder) -> None:
    """download_and_prepare (default file format), checking every yielded key."""
    manual_dir = self.dummy_data() if builder.MANUAL_DOWNLOAD_INSTRUCTIONS else None
    generate = builder._generate_examples  # pylint: disable=protected-access

    def checked(*args, **kwargs):
      examples = generate(*args, **kwargs)
      if not isinstance(examples, Iterable) or hasattr(examples, 'expand'):
        return examples  # A Beam PTransform: keys are not checked (as in TFDS).
      return (self._check_key(key, example) for key, example in examples)

    with mock.patch.object(builder, '_generate_examples', checked):
      builder.download_and_prepare(
          download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    self.assertEqual(builder.info.file_format, tfds.core.FileFormat.ARRAY_RECORD)

  def _check_key(self, key: Any, example: Any) -> tuple[Any, Any]:
    self.assertFalse(
        isinstance(key, str) and os.fspath(self.dummy_data()) in key,
        f'Key {key!r} holds a local path: the example order would depend on '
        'where the data lies (use the file name).')
    return key, example

  def _check_splits(self, builder: tfds.core.DatasetBuilder) -> None:
    """Examples per split, their format, unique record ids, no shared example."""
    self.assertEqual({s: i.num_examples for s, i in builder.info.splits.items()}, dict(self.SPLITS))
    self.assertEqual(builder.info.splits.total_num_examples, sum(self.SPLITS.values()))
    signal_names = builder.builder_config.signals
    digests, record_ids = {}, []
    for split, source in builder.as_data_source().items():
      digests[split] = set()
      for i in range(len(source)):
        example = source[i]
        check_example(self, example, signal_names)
        record_ids.append(_text(example['record_id']))
        digests[split].add(example_digest(example))
    self.assertCountEqual(record_ids, set(record_ids))  # Unique across splits.
    for (split1, set1), (split2, set2) in itertools.combinations(digests.items(), 2):
      if not {split1, split2} & set(self.OVERLAPPING_SPLITS):
        self.assertFalse(set1 & set2, f'Splits {split1!r} and {split2!r} share examples.')


if HAS_TF:
  BuilderTestCase = tfds.testing.DatasetBuilderTestCase
else:
  BuilderTestCase = _TfFreeBuilderTestCase


def main() -> None:
  absltest.main()
