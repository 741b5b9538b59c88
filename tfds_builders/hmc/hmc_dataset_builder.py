"""Haaglanden Medisch Centrum sleep staging database.

Signals: ECG, EOG-L (EOG E1-M2), EOG-R (EOG E2-M2).
"""

from wav2sleep_jax.builders import open_builder
from wav2sleep_jax.psg import cohorts


class Builder(open_builder.OpenBuilder):
  """DatasetBuilder for hmc: one example per record (see open_builder)."""

  COHORT = cohorts.get('hmc')
  MANUAL_DOWNLOAD_INSTRUCTIONS = open_builder.manual_instructions(COHORT)
