"""Builds the hmc dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.hmc import hmc_dataset_builder


class HmcTest(testing.BuilderTestCase):
  DATASET_CLASS = hmc_dataset_builder.Builder
  SPLITS = {'train': 1, 'validation': 1, 'test': 1}


if __name__ == '__main__':
  testing.main()
