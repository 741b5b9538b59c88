"""Builds the cinc2018 dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.cinc2018 import cinc2018_dataset_builder


class Cinc2018Test(testing.BuilderTestCase):
  DATASET_CLASS = cinc2018_dataset_builder.Builder
  SPLITS = {'train': 1, 'validation': 1, 'test': 1}


if __name__ == '__main__':
  testing.main()
