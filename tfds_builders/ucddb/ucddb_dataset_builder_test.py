"""Builds the ucddb dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.ucddb import ucddb_dataset_builder


class UcddbTest(testing.BuilderTestCase):
  DATASET_CLASS = ucddb_dataset_builder.Builder
  SPLITS = {'train': 1, 'validation': 1, 'test': 1}


if __name__ == '__main__':
  testing.main()
