"""Builds the slpdb dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.slpdb import slpdb_dataset_builder


class SlpdbTest(testing.BuilderTestCase):
  DATASET_CLASS = slpdb_dataset_builder.Builder
  SPLITS = {'train': 1, 'validation': 1, 'test': 2}  # slp01a and slp01b: one subject.


if __name__ == '__main__':
  testing.main()
