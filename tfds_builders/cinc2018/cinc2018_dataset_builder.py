"""PhysioNet/CinC Challenge 2018 "You Snooze You Win" (training set).

Signals: ECG, THX (CHEST), ABD, EOG-L (E1-M2).
"""

from wav2sleep_jax.builders import open_builder
from wav2sleep_jax.psg import cohorts


class Builder(open_builder.OpenBuilder):
  """DatasetBuilder for cinc2018: one example per record (see open_builder)."""

  COHORT = cohorts.get('cinc2018')
  MANUAL_DOWNLOAD_INSTRUCTIONS = open_builder.manual_instructions(COHORT)
