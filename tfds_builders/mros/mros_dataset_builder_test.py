"""Builds the mros dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.mros import mros_dataset_builder


class MrosTest(testing.BuilderTestCase):
  DATASET_CLASS = mros_dataset_builder.Builder
  SPLITS = {'test': 4}


if __name__ == '__main__':
  testing.main()
