"""Builds the chat dummy data (make_dummy_data.py) and checks the splits."""

from tfds_builders import testing
from tfds_builders.chat import chat_dataset_builder


class ChatTest(testing.BuilderTestCase):
  DATASET_CLASS = chat_dataset_builder.Builder
  SPLITS = {'train': 2, 'validation': 1, 'test': 1}


if __name__ == '__main__':
  testing.main()
