"""Builds the wsc dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.wsc import wsc_dataset_builder


class WscTest(testing.BuilderTestCase):
  DATASET_CLASS = wsc_dataset_builder.Builder
  SPLITS = {'train': 1, 'validation': 1, 'test': 1}


if __name__ == '__main__':
  testing.main()
