"""MrOS Sleep, visits 1 and 2: ECG, THX, ABD (no PPG). Test split only by default."""

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.psg import cohorts


class Builder(nsrr_builder.NsrrBuilder):
  """DatasetBuilder for mros: one example per night (see nsrr_builder)."""

  COHORT = cohorts.get('mros')
  MANUAL_DOWNLOAD_INSTRUCTIONS = nsrr_builder.manual_instructions(COHORT)
