"""Synthetic nights in an NSRR cohort's layout, generated and then built like real ones.

`SyntheticBuilder` is complete (the demo data builds it in-process, see
training/demo_data.py); `tfds_builders/synthetic/` subclasses it as the TFDS
template with its dummy data, README and citations.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Sequence

from absl import logging
from etils import epath

from wav2sleep_jax import synthetic
from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.core import cli
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import cohorts
from wav2sleep_jax.psg import splits

_MARKER = 'synthetic.json'


@dataclasses.dataclass
class SyntheticConfig(nsrr_builder.NsrrConfig):
  """Synthetic cohort config.

  Attributes:
    cohort_layout: cohort whose layout, channels and population to imitate.
    num_nights: participants to generate (one night per visit).
    hours: night length; None draws it per night (about 6-11 h).
    seed: generator seed.
    visits: visits per participant (default: the cohort's first).
    stage_contrast: strength of the stage signatures (1 = realistic; the CPU
      demo exaggerates them, see wav2sleep_jax/configs/demo.py).
    source_dir: where the EDFs and annotations are written; default
      `<download_dir>/synthetic_<config name>`. Reused if it already holds
      the same generation parameters.
  """

  cohort_layout: str = 'mesa'
  num_nights: int = 32
  hours: float | None = None
  seed: int = 0
  visits: Sequence[str] | None = None
  stage_contrast: float = 1.0
  source_dir: str | None = None
  split_sizes: Sequence[float] | None = (0.8, 0.1, 0.1)


class SyntheticBuilder(nsrr_builder.NightsBuilder, skip_registration=True):
  """DatasetBuilder for synthetic nights (no data-use agreement needed)."""

  name = 'synthetic'  # The TFDS name, as the template's `tfds_builders/synthetic/`.

  BUILDER_CONFIGS = [
      SyntheticConfig(
          name='mesa_like',
          cohort_layout='mesa',
          description='MESA layout with PPG, 32 nights of ~8.6 h.'),
      SyntheticConfig(
          name='shhs_like',
          cohort_layout='shhs',
          description='SHHS layout without PPG, 32 nights of '
          '~8.6 h.'),
  ]

  def _find_nights(self, dl_manager):
    config = self.builder_config
    if config.num_nights < 1:
      raise cli.InputError(f'{self.name}/{config.name}: num_nights={config.num_nights} '
                           'must be at least 1.')
    root = epath.Path(config.source_dir or dl_manager.download_dir / f'synthetic_{config.name}')
    params = {
        'cohort': config.cohort_layout,
        'num_nights': config.num_nights,
        'hours': config.hours,
        'seed': config.seed,
        'visits': list(config.visits) if config.visits else None,
        'stage_contrast': config.stage_contrast
    }
    marker = root / _MARKER
    if not (marker.exists() and json.loads(marker.read_text()) == params):
      logging.info('Generating %d synthetic %s nights in %s.', config.num_nights,
                   config.cohort_layout, root)
      synthetic.write_cohort(
          config.cohort_layout,
          config.num_nights,
          str(root),
          seed=config.seed,
          hours=config.hours,
          visits=config.visits,
          stage_contrast=config.stage_contrast)
      marker.write_text(json.dumps(params))
    return cohort_files.find_nights(str(root), cohorts.get(config.cohort_layout))

  def _plan(self, found, dl_manager):
    del dl_manager  # No manual dir: split lists only through split_dir.
    return splits.plan_splits([n.record_id for n in found],
                              self.builder_config.cohort_layout,
                              split_dir=self._option('split_dir'),
                              sizes=self.builder_config.split_sizes)
