"""Builders of the open PhysioNet datasets (cinc2018, hmc, ucddb, slpdb): no data-use agreement.

Same nights, examples, splits and skip report as `nsrr_builder` (one night reader,
`psg.night.read_night`, for WFDB records and EDFs alike); the files are found in each
dataset's PhysioNet layout (`psg.cohort_files.OPEN_FILES`). The default config stores every
signal the dataset has (ECG, ABD, THX, EOG-L, EOG-R as available), so one build serves
the cardiorespiratory and the EOG models.
"""

from __future__ import annotations

import types
from typing import Mapping

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import cohorts as cohorts_lib

OPEN_CONFIG = nsrr_builder.NsrrConfig(
    name='default',
    signals=channels_lib.SIGNAL_NAMES,
    description='Every model signal the dataset has (absent ones stored empty); nights up '
    'to 10 h.')

# Per dataset: (PhysioNet files path, what it holds and its size, layout lines).
_DOWNLOADS: Mapping[str, tuple[str, str, str]] = types.MappingProxyType({
    'cinc2018': ('challenge-2018/1.0.0/training/',
                 'the training set only (994 scored records, about 135 GB; the test set has '
                 'no public labels)',
                 '  training/trXX-XXXX/trXX-XXXX.hea, .mat (WFDB + MATLAB v4), .arousal'),
    'hmc':
        ('hmc-sleep-staging/1.1/recordings/', '151 whole-night PSGs as EDF at 256 Hz (several GB)',
         '  recordings/SNxxx.edf with recordings/SNxxx_sleepscoring.edf'),
    'ucddb':
        ('ucddb/1.0.0/', '25 PSGs (about 0.8 GB)', '  ucddbXXX.rec (EDF) with ucddbXXX_stage.txt'),
    'slpdb': ('slpdb/1.0.0/', '18 records of 16 subjects (about 0.6 GB)',
              '  slpXX.hea, slpXX.dat (fmt 212), slpXX.st'),
})


def manual_instructions(cohort: cohorts_lib.Cohort) -> str:
  """MANUAL_DOWNLOAD_INSTRUCTIONS of an open dataset (PhysioNet, no agreement needed)."""
  files, holds, layout = _DOWNLOADS[cohort.name]
  return (f'Download {cohort.name} from PhysioNet ({cohort.homepage}; open access): '
          f'{holds}, e.g.\n'
          f'  wget -r -N -c -np -nH --cut-dirs=3 https://physionet.org/files/{files}\n'
          f'or, faster, from the PhysioNet open-data bucket (no account):\n'
          f'  aws s3 sync --no-sign-request s3://physionet-open/{files} {cohort.name}/\n'
          'and pass the folder as --manual_dir (the folder or its parent named '
          f'{cohort.name}). Layout (any depth):\n{layout}\n'
          'Optionally put split lists in <manual_dir>/splits/'
          f'{cohort.name}/{{train,val,test}}.txt (record ids such as '
          f'{_example_id(cohort.name)}) or pass split_dir.')


def _example_id(name: str) -> str:
  return {
      'cinc2018': 'cinc2018-tr03-0005',
      'hmc': 'hmc-SN001',
      'ucddb': 'ucddb002',
      'slpdb': 'slpdb-slp01a'
  }[name]


class OpenBuilder(nsrr_builder.NsrrBuilder, skip_registration=True):
  """Builder of one open dataset laid out as PhysioNet serves it (set COHORT)."""

  BUILDER_CONFIGS = [OPEN_CONFIG]
