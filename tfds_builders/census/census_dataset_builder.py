"""Census-balanced val/test nights (Jones et al. 2024) over CCSHS, CFS, CHAT, MESA, WSC."""

from __future__ import annotations

import dataclasses
from typing import Mapping

from absl import logging
from etils import epath

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import cohorts
from wav2sleep_jax.psg import splits


@dataclasses.dataclass
class CensusConfig(nsrr_builder.NsrrConfig):
  """Census config.

  Attributes:
    cohort_dirs: cohort -> its NSRR folder (absolute, or relative to the
      manual dir); default `<manual_dir>/<cohort>`.
  """

  cohort_dirs: Mapping[str, str] = dataclasses.field(default_factory=dict)


class Builder(nsrr_builder.NightsBuilder):
  """DatasetBuilder for the census-balanced val and test sets."""

  BUILDER_CONFIGS = [
      CensusConfig(name='default', description='ECG, PPG, ABD, THX of the census val/test lists.')
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'Put the NSRR downloads of the census cohorts side by side:\n'
      '  <manual_dir>/{ccshs,cfs,chat,mesa,wsc}/polysomnography/...\n'
      '(or set cohort_dirs) and the census split lists in\n'
      '  <manual_dir>/splits/census/{val,test}.txt (or pass split_dir).')

  def _split_lists(self, dl_manager) -> dict[str, tuple[str, ...]]:
    split_dir = self._split_dir(dl_manager)
    if split_dir is None:
      raise FileNotFoundError('census needs split lists census/{val,test}.txt: pass split_dir or '
                              f'put them in {epath.Path(dl_manager.manual_dir) / "splits"}.')
    return splits.read_split_lists(split_dir, 'census')

  def _find_nights(self, dl_manager):
    listed = {r for ids in self._split_lists(dl_manager).values() for r in ids}
    wanted = sorted({cohorts.cohort_of(r) for r in listed})
    found = []
    for name in wanted:
      folder = epath.Path(dl_manager.manual_dir) / self.builder_config.cohort_dirs.get(name, name)
      if not folder.is_dir():
        logging.warning('census: no folder %s for the %s nights.', folder, name)
        continue
      found += [
          n for n in cohort_files.find_nights(str(folder), cohorts.get(name))
          if n.record_id in listed
      ]
    return found

  def _plan(self, found, dl_manager):
    return splits.plan_splits([n.record_id for n in found],
                              'census',
                              split_dir=self._split_dir(dl_manager))
