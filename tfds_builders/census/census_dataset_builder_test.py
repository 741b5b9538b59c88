"""Builds the census dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.census import census_dataset_builder


class CensusTest(testing.BuilderTestCase):
  DATASET_CLASS = census_dataset_builder.Builder
  SPLITS = {'validation': 2, 'test': 2}


if __name__ == '__main__':
  testing.main()
