"""Builds the mesa dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.mesa import mesa_dataset_builder


class MesaTest(testing.BuilderTestCase):
  DATASET_CLASS = mesa_dataset_builder.Builder
  SPLITS = {'train': 1, 'validation': 1, 'test': 1}


if __name__ == '__main__':
  testing.main()
