"""MIT-BIH Polysomnographic Database.

Signals: ECG, THX (Resp (chest)), ABD (Resp (abdomen)/(abdominal)), EOG where recorded.
"""

from wav2sleep_jax.builders import open_builder
from wav2sleep_jax.psg import cohorts


class Builder(open_builder.OpenBuilder):
  """DatasetBuilder for slpdb: one example per record (see open_builder)."""

  COHORT = cohorts.get('slpdb')
  MANUAL_DOWNLOAD_INSTRUCTIONS = open_builder.manual_instructions(COHORT)
