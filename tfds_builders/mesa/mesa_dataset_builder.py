"""MESA Sleep: ECG, PPG, THX, ABD."""

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.psg import cohorts


class Builder(nsrr_builder.NsrrBuilder):
  """DatasetBuilder for mesa: one example per night (see nsrr_builder)."""

  COHORT = cohorts.get('mesa')
  MANUAL_DOWNLOAD_INSTRUCTIONS = nsrr_builder.manual_instructions(COHORT)
