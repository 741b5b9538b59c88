"""Builds the shhs dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.shhs import shhs_dataset_builder


class ShhsTest(testing.BuilderTestCase):
  DATASET_CLASS = shhs_dataset_builder.Builder
  SPLITS = {'train': 1, 'validation': 1, 'test': 2}
  BUILDER_CONFIG_NAMES_TO_TEST = ['default', 'reference']


if __name__ == '__main__':
  testing.main()
