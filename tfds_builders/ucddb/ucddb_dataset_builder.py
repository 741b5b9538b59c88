"""St. Vincent's University Hospital / University College Dublin Sleep Apnea Database.

Signals: ECG, THX (ribcage), ABD (abdo), EOG-L (Lefteye), EOG-R (RightEye).
"""

from wav2sleep_jax.builders import open_builder
from wav2sleep_jax.psg import cohorts


class Builder(open_builder.OpenBuilder):
  """DatasetBuilder for ucddb: one example per record (see open_builder)."""

  COHORT = cohorts.get('ucddb')
  MANUAL_DOWNLOAD_INSTRUCTIONS = open_builder.manual_instructions(COHORT)
