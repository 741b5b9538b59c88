"""Generates and builds two tiny synthetic cohorts (with and without PPG)."""

from tfds_builders import testing
from tfds_builders.synthetic import synthetic_dataset_builder as synthetic


class SyntheticTest(testing.BuilderTestCase):
  DATASET_CLASS = synthetic.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = [
      synthetic.SyntheticConfig(name='tiny_mesa', cohort_layout='mesa', num_nights=3, hours=0.1),
      synthetic.SyntheticConfig(name='tiny_shhs', cohort_layout='shhs', num_nights=3, hours=0.1),
  ]
  SPLITS = {'train': 1, 'validation': 1, 'test': 1}


if __name__ == '__main__':
  testing.main()
