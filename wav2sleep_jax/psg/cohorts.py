"""Facts about the NSRR cohorts that dataset builders need.

Folder layout, the model signals each cohort's EDFs can hold, cohort-specific
channel labels and the paper's split sizes (wav2sleep paper, Carter & Tarassenko,
ML4H 2024, Table 1). Layouts are those of the NSRR download tool (sleepdata.org).
"""

from __future__ import annotations

import dataclasses
import re
import types
from typing import Mapping

from wav2sleep_jax.psg import channels as channels_lib

# EDFs under `polysomnography/edfs/[<visit>/]`, NSRR XML under
# `polysomnography/annotations-events-nsrr/[<visit>/]<id>-nsrr.xml`.
NSRR_LAYOUT = 'nsrr'
# `**/<id>.edf` with sibling `<id>.stg.txt` / `<id>.allscore.txt` / `<id>.log.txt`.
WSC_LAYOUT = 'wsc'
# Open PhysioNet datasets (`OPEN_LAYOUTS`): signal file and scoring file side by side.
CINC2018_LAYOUT = 'cinc2018'  # `**/trXX-XXXX.{hea,mat,arousal}` (training set only).
HMC_LAYOUT = 'hmc'  # `**/SNxxx.edf` with `SNxxx_sleepscoring.edf`.
UCDDB_LAYOUT = 'ucddb'  # `**/ucddbXXX.rec` (EDF) with `ucddbXXX_stage.txt`.
SLPDB_LAYOUT = 'slpdb'  # `**/slpXX[a-z].{hea,dat,st}`.
OPEN_LAYOUTS = (CINC2018_LAYOUT, HMC_LAYOUT, UCDDB_LAYOUT, SLPDB_LAYOUT)

_ALL = channels_lib.SIGNAL_NAMES
_NO_PPG = tuple(s for s in _ALL if s != 'PPG')


@dataclasses.dataclass(frozen=True)
class Cohort:
  """One NSRR cohort.

  Attributes:
    name: cohort name, also the record id prefix ('shhs', 'mesa', ...).
    layout: `NSRR_LAYOUT` or `WSC_LAYOUT`.
    signals: canonical signals its EDFs can hold; others are absent without
      a report entry.
    split_sizes: nights (train, validation, test) in the paper; the deterministic
      split uses them as proportions.
    extra_aliases: channel labels tried after the default aliases.
    homepage: NSRR (or PhysioNet) page of the cohort.
    participant_pattern: regex on the record id whose group 1 is the
      participant ('' = the NSRR rule of `splits.participant_id`).
  """

  name: str
  layout: str
  signals: tuple[str, ...]
  split_sizes: tuple[int, int, int]
  extra_aliases: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
  homepage: str = ''
  participant_pattern: str = ''


def _nsrr(name: str) -> str:
  return f'https://sleepdata.org/datasets/{name}'


def _physionet(name: str) -> str:
  return f'https://physionet.org/content/{name}/'


COHORTS: Mapping[str, Cohort] = types.MappingProxyType({
    c.name: c for c in (
        Cohort('shhs', NSRR_LAYOUT, _NO_PPG, (6441, 500, 1000), homepage=_nsrr('shhs')),
        Cohort('mesa', NSRR_LAYOUT, _ALL, (1541, 100, 200), homepage=_nsrr('mesa')),
        Cohort('wsc', WSC_LAYOUT, _NO_PPG, (1380, 250, 500), homepage=_nsrr('wsc')),
        Cohort(
            'chat',
            NSRR_LAYOUT,
            _ALL, (1132, 100, 200),
            extra_aliases=channels_lib.COHORT_EXTRA_ALIASES['chat'],
            homepage=_nsrr('chat')),
        Cohort('cfs', NSRR_LAYOUT, _ALL, (452, 50, 100), homepage=_nsrr('cfs')),
        Cohort('ccshs', NSRR_LAYOUT, _ALL, (272, 50, 100), homepage=_nsrr('ccshs')),
        Cohort('mros', NSRR_LAYOUT, _NO_PPG, (0, 0, 1000), homepage=_nsrr('mros')),
        # Open data: split sizes are proportions (~80/10/10) of the records.
        Cohort(
            'cinc2018',
            CINC2018_LAYOUT, ('ECG', 'ABD', 'THX', 'EOG-L'), (794, 100, 100),
            extra_aliases=channels_lib.COHORT_EXTRA_ALIASES['cinc2018'],
            homepage=_physionet('challenge-2018/1.0.0'),
            participant_pattern=r'cinc2018-(.+)'),
        Cohort(
            'hmc',
            HMC_LAYOUT, ('ECG', 'EOG-L', 'EOG-R'), (121, 15, 15),
            extra_aliases=channels_lib.COHORT_EXTRA_ALIASES['hmc'],
            homepage=_physionet('hmc-sleep-staging/1.1'),
            participant_pattern=r'hmc-(.+)'),
        Cohort(
            'ucddb',
            UCDDB_LAYOUT, ('ECG', 'ABD', 'THX', 'EOG-L', 'EOG-R'), (19, 3, 3),
            extra_aliases=channels_lib.COHORT_EXTRA_ALIASES['ucddb'],
            homepage=_physionet('ucddb/1.0.0'),
            participant_pattern=r'(ucddb\d+)'),
        # slpXXa and slpXXb are one subject's night in two records.
        Cohort(
            'slpdb',
            SLPDB_LAYOUT, ('ECG', 'ABD', 'THX', 'EOG-L', 'EOG-R'), (12, 2, 2),
            extra_aliases=channels_lib.COHORT_EXTRA_ALIASES['slpdb'],
            homepage=_physionet('slpdb/1.0.0'),
            participant_pattern=r'slpdb-(slp\d+)[a-z]?'),
    )
})
OPEN_COHORTS = ('cinc2018', 'hmc', 'ucddb', 'slpdb')
# Record names of the open datasets' files (predict: which cohort a file belongs to).
_OPEN_NAMES = (('cinc2018', r't[re]\d{2}-\d{4}'), ('hmc', r'SN\d{3}'), ('ucddb', r'ucddb\d{3}'),
               ('slpdb', r'slp\d{2}[a-z]?'))

# Cohorts the census-balanced val/test sets draw from (Jones et al. 2024).
CENSUS_COHORTS = ('ccshs', 'cfs', 'chat', 'mesa', 'wsc')


def get(name: str) -> Cohort:
  """Looks up a cohort by name (ValueError listing the known ones)."""
  try:
    return COHORTS[name]
  except KeyError:
    raise ValueError(f'Unknown cohort {name!r}; known: {sorted(COHORTS)}') from None


def cohort_of(record_id: str) -> str:
  """Cohort name of a record id: 'chat-baseline-300001' -> 'chat', 'shhs2-1' -> 'shhs'.

  Also 'cinc2018-tr03-0005' -> 'cinc2018', 'ucddb002' -> 'ucddb'.
  """
  head = record_id.split('-', 1)[0].strip().lower()
  return head if head in COHORTS else head.rstrip('0123456789')


def guess_open_cohort(record_name: str) -> Cohort | None:
  """The open dataset whose file names look like `record_name` ('SN001' -> hmc), or None."""
  for name, pattern in _OPEN_NAMES:
    if re.fullmatch(pattern, record_name):
      return COHORTS[name]
  return None
