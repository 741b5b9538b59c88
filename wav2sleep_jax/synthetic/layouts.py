"""Per-cohort layout of NSRR downloads: folders, record ids, EDF channels and annotation format.

Channel labels, native rates, units and physical ranges follow the cohorts' EDF headers as
the NSRR downloads lay them out (sleepdata.org): several rates inside one EDF, model channels under
cohort-specific labels, and extra channels (SpO2, pulse rate, position, EEG, second ECG leads)
that readers must skip.
"""

import dataclasses

from wav2sleep_jax.synthetic import population as pop

NSRR_XML = 'nsrr_xml'
WSC_TEXT = 'wsc_text'
# Open PhysioNet datasets (written by `open_writers`).
CINC2018 = 'cinc2018'  # training/trXX-XXXX/trXX-XXXX.{hea,mat,arousal}
HMC = 'hmc'  # recordings/SNxxx.edf + SNxxx_sleepscoring.edf
UCDDB = 'ucddb'  # ucddbXXX.rec (EDF) + ucddbXXX_stage.txt
SLPDB = 'slpdb'  # slpXX.{hea,dat,st}, fmt 212
OPEN_FORMATS = (CINC2018, HMC, UCDDB, SLPDB)
# Files of one record of each open dataset, relative to its root: kind -> template.
_OPEN_PATHS = {
    CINC2018: {
        'hea': 'training/{id}/{id}.hea',
        'mat': 'training/{id}/{id}.mat',
        'arousal': 'training/{id}/{id}.arousal'
    },
    HMC: {
        'edf': 'recordings/{id}.edf',
        'sleepscoring': 'recordings/{id}_sleepscoring.edf'
    },
    UCDDB: {
        'rec': '{id}.rec',
        'stage': '{id}_stage.txt'
    },
    SLPDB: {
        'hea': '{id}.hea',
        'dat': '{id}.dat',
        'st': '{id}.st'
    },
}
_SIGNAL_FILE = {CINC2018: 'hea', HMC: 'edf', UCDDB: 'rec', SLPDB: 'hea'}

# Signal sources a channel can be rendered from, with the unit the generator produces.
SOURCE_UNITS = {
    'ECG': 'mV',
    'ECG2': 'mV',
    'ECG3': 'mV',
    'PPG': '',
    'THX': '',
    'ABD': '',
    'EOG-L': 'uV',
    'EOG-R': 'uV',
    'EEG': 'uV',
    'SpO2': '%',
    'HR': 'bpm',
    'POS': ''
}
_VOLTS = {'V': 1.0, 'mV': 1e-3, 'uV': 1e-6}


@dataclasses.dataclass(frozen=True)
class ChannelSpec:
  """One EDF signal: label, what feeds it, native rate, unit and physical range."""
  label: str
  source: str  # Key of SOURCE_UNITS.
  rate: int  # Samples per second.
  unit: str  # EDF physical dimension.
  physical_range: tuple[float, float]
  scale: float = 1.0  # Extra factor for unitless sources (belts, pleth).
  alt_labels: tuple[str, ...] = ()  # Other labels used by some nights of the cohort.

  def unit_factor(self) -> float:
    """Multiplier from the generator's unit to this channel's unit."""
    src = SOURCE_UNITS[self.source]
    if src in _VOLTS and self.unit in _VOLTS:
      return _VOLTS[src] / _VOLTS[self.unit] * self.scale
    return self.scale


@dataclasses.dataclass(frozen=True)
class CohortSpec:
  """How one NSRR cohort is laid out on disk."""
  name: str
  visits: tuple[str, ...]  # First one is the default.
  id_template: str  # Formatted with visit= and n=.
  first_participant: int
  visit_folders: bool  # EDFs under edfs/<visit>/ rather than edfs/.
  annotation_format: str  # NSRR_XML or WSC_TEXT.
  channels: tuple[ChannelSpec, ...]
  population: pop.Population
  rk_stage4: bool  # Scored with R&K (deep sleep split into stages 3 and 4).
  rate_overrides: tuple[tuple[str, str, int], ...] = ()  # (visit, label, rate).

  def record_id(self, index: int, visit: str | None = None) -> str:
    return self.id_template.format(visit=visit or self.visits[0], n=self.first_participant + index)

  def channels_for(self, visit: str | None = None) -> tuple[ChannelSpec, ...]:
    visit = visit or self.visits[0]
    rates = {label: rate for v, label, rate in self.rate_overrides if v == visit}
    return tuple(dataclasses.replace(c, rate=rates.get(c.label, c.rate)) for c in self.channels)

  def edf_path(self, record_id: str, visit: str | None = None) -> str:
    """Path of the EDF (open datasets: the signal file) relative to the cohort root."""
    if self.annotation_format in OPEN_FORMATS:
      kind = _SIGNAL_FILE[self.annotation_format]
      return _OPEN_PATHS[self.annotation_format][kind].format(id=record_id)
    if self.annotation_format == WSC_TEXT:
      return f'polysomnography/{record_id}.edf'
    sub = f'{visit or self.visits[0]}/' if self.visit_folders else ''
    return f'polysomnography/edfs/{sub}{record_id}.edf'

  def annotation_paths(self, record_id: str, visit: str | None = None) -> dict[str, str]:
    """Annotation files relative to the cohort root, keyed by kind."""
    if self.annotation_format in OPEN_FORMATS:
      signal = _SIGNAL_FILE[self.annotation_format]
      return {
          k: v.format(id=record_id)
          for k, v in _OPEN_PATHS[self.annotation_format].items()
          if k != signal
      }
    if self.annotation_format == WSC_TEXT:
      base = f'polysomnography/{record_id}'
      return {
          'stg': f'{base}.stg.txt',
          'log': f'{base}.log.txt',
          'allscore': f'{base}.allscore.txt'
      }
    sub = f'{visit or self.visits[0]}/' if self.visit_folders else ''
    return {'nsrr_xml': f'polysomnography/annotations-events-nsrr/{sub}{record_id}-nsrr.xml'}


def _c(label, source, rate, unit, lo, hi, scale=1.0, alt=()):
  return ChannelSpec(label, source, rate, unit, (float(lo), float(hi)), scale, tuple(alt))


_SPO2 = _c('SpO2', 'SpO2', 1, '%', 0, 100)
# CFS and CCSHS were recorded with the same montage.
_CFS_CCSHS_CHANNELS = (_c('ECG1', 'ECG', 256, 'uV', -3000,
                          3000), _c('ECG2', 'ECG2', 256, 'uV', -3000,
                                    3000), _c('LOC', 'EOG-L', 128, 'uV', -400,
                                              400), _c('ROC', 'EOG-R', 128, 'uV', -400, 400),
                       _c('THOR EFFORT', 'THX', 32, 'mV', -1000, 1000,
                          scale=200), _c('ABDO EFFORT', 'ABD', 32, 'mV', -1000, 1000, scale=200),
                       _c('PlethWV', 'PPG', 256, '', -100, 100, scale=15), _SPO2)

COHORTS: dict[str, CohortSpec] = {
    c.name: c for c in (
        CohortSpec(
            'shhs', ('shhs1', 'shhs2'),
            '{visit}-{n}',
            200001,
            True,
            NSRR_XML, (_c('SaO2', 'SpO2', 1, '%', 0, 100), _c('H.R.', 'HR', 1, 'bpm', 0, 250),
                       _c('EEG(sec)', 'EEG', 125, 'uV', -125, 125),
                       _c('ECG', 'ECG', 125, 'mV', -1.25, 1.25),
                       _c('THOR RES', 'THX', 10, '', -1, 1, scale=0.25),
                       _c('ABDO RES', 'ABD', 10, '', -1, 1, scale=0.25),
                       _c('POSITION', 'POS', 1, '', 0, 3),
                       _c('EOG(L)', 'EOG-L', 50, 'uV', -300, 300),
                       _c('EOG(R)', 'EOG-R', 50, 'uV', -300, 300)),
            pop.ADULT,
            rk_stage4=True,
            rate_overrides=(('shhs2', 'ECG', 250),)),
        CohortSpec(
            'mesa', ('sleep',),
            'mesa-sleep-{n:04d}',
            1,
            False,
            NSRR_XML, (_c('EKG', 'ECG', 256, 'mV', -2.5, 2.5),
                       _c('EOG-L', 'EOG-L', 256, 'uV', -500, 500),
                       _c('EOG-R', 'EOG-R', 256, 'uV', -500, 500),
                       _c('Thor', 'THX', 32, '', -2.5, 2.5, scale=0.4),
                       _c('Abdo', 'ABD', 32, '', -2.5, 2.5, scale=0.4),
                       _c('Pleth', 'PPG', 256, '', -5, 5, scale=0.8),
                       _c('SpO2', 'SpO2', 1, '%', 0, 100), _c('HR', 'HR', 1, 'bpm', 0, 250),
                       _c('Pos', 'POS', 1, '', 0, 3)),
            pop.ADULT,
            rk_stage4=False),
        CohortSpec(
            'cfs', ('visit5',),
            'cfs-visit5-{n}',
            800001,
            False,
            NSRR_XML,
            _CFS_CCSHS_CHANNELS,
            pop.ADULT,
            rk_stage4=True),
        CohortSpec(
            'ccshs', ('trec',),
            'ccshs-trec-{n}',
            1800001,
            False,
            NSRR_XML,
            _CFS_CCSHS_CHANNELS,
            pop.ADOLESCENT,
            rk_stage4=True),
        CohortSpec(
            'chat', ('baseline', 'followup'),
            'chat-{visit}-{n}',
            300001,
            True,
            NSRR_XML, (
                _c('ECG1', 'ECG', 256, 'uV', -5000, 5000),
                _c('ECG2', 'ECG2', 256, 'uV', -5000, 5000),
                _c('ECG3', 'ECG3', 256, 'uV', -5000, 5000), _c('E1', 'EOG-L', 200, 'uV', -500, 500),
                _c('E2', 'EOG-R', 200, 'uV', -500, 500),
                _c('Chest', 'THX', 64, 'uV', -2000, 2000, scale=300),
                _c('ABD', 'ABD', 64, 'uV', -2000, 2000, scale=300),
                _c('PlethMasimo', 'PPG', 256, '', -1, 1, scale=0.15, alt=('PlethNellcor',
                                                                          'Pleth')), _SPO2),
            pop.CHILD,
            rk_stage4=False),
        CohortSpec(
            'mros', ('visit1', 'visit2'),
            'mros-{visit}-aa{n:04d}',
            1,
            True,
            NSRR_XML, (_c('ECG L', 'ECG', 512, 'V', -0.005, 0.005),
                       _c('ECG R', 'ECG2', 512, 'V', -0.005, 0.005),
                       _c('LOC', 'EOG-L', 256, 'uV', -500, 500),
                       _c('ROC', 'EOG-R', 256, 'uV', -500, 500),
                       _c('Thoracic', 'THX', 16, '', -10, 10, scale=2.0),
                       _c('Abdominal', 'ABD', 16, '', -10, 10, scale=2.0),
                       _c('SaO2', 'SpO2', 1, '%', 0, 100)),
            pop.OLDER,
            rk_stage4=True),
        CohortSpec(
            'wsc', ('visit1', 'visit2', 'visit3'),
            'wsc-{visit}-{n}-nsrr',
            10001,
            False,
            WSC_TEXT, (_c('ECG', 'ECG', 200, 'mV', -4, 4), _c('E1', 'EOG-L', 200, 'uV', -500, 500),
                       _c('E2', 'EOG-R', 200, 'uV', -500, 500),
                       _c('thorax', 'THX', 100, '', -5, 5, scale=1.0),
                       _c('abdomen', 'ABD', 100, '', -5, 5, scale=1.0),
                       _c('SpO2', 'SpO2', 1, '%', 0, 100)),
            pop.ADULT,
            rk_stage4=True),
        # Open datasets: every channel of a WFDB record at the record's one rate.
        CohortSpec(
            'cinc2018', ('training',),
            'tr03-{n:04d}',
            5,
            False,
            CINC2018,
            tuple(
                _c(label, 'EEG', 200, 'uV', -500, 500)
                for label in ('F3-M2', 'F4-M1', 'C3-M2', 'C4-M1', 'O1-M2', 'O2-M1')) +
            (_c('E1-M2', 'EOG-L', 200, 'uV', -500, 500),
             _c('Chin1-Chin2', 'EEG', 200, 'uV', -100, 100),
             _c('ABD', 'ABD', 200, 'uV', -1000, 1000, scale=200),
             _c('CHEST', 'THX', 200, 'uV', -1000, 1000, scale=200),
             _c('AIRFLOW', 'THX', 200, 'uV', -1000, 1000, scale=100),
             _c('SaO2', 'SpO2', 200, '%', 0, 100), _c('ECG', 'ECG', 200, 'uV', -3000, 3000)),
            pop.ADULT,
            rk_stage4=False),
        CohortSpec(
            'hmc', ('psg',),
            'SN{n:03d}',
            1,
            False,
            HMC,
            tuple(
                _c(label, 'EEG', 256, 'uV', -400, 400)
                for label in ('EEG F4-M1', 'EEG C4-M1', 'EEG O2-M1', 'EEG C3-M2')) +
            (_c('EMG chin', 'EEG', 256, 'uV', -100, 100),
             _c('EOG E1-M2', 'EOG-L', 256, 'uV', -500, 500),
             _c('EOG E2-M2', 'EOG-R', 256, 'uV', -500, 500), _c('ECG', 'ECG', 256, 'mV', -5, 5)),
            pop.ADULT,
            rk_stage4=False),
        CohortSpec(
            'ucddb', ('psg',),
            'ucddb{n:03d}',
            2,
            False,
            UCDDB, (_c('Lefteye', 'EOG-L', 128, 'uV', -500, 500),
                    _c('RightEye', 'EOG-R', 128, 'uV', -500, 500),
                    _c('C3A2', 'EEG', 128, 'uV', -300, 300), _c('ECG', 'ECG', 128, 'mV', -5, 5),
                    _c('ribcage', 'THX', 8, '', -1000, 1000, scale=200),
                    _c('abdo', 'ABD', 8, '', -1000, 1000, scale=200),
                    _c('SpO2', 'SpO2', 8, '%', 0, 100)),
            pop.ADULT,
            rk_stage4=True),
        CohortSpec(
            'slpdb', ('psg',),
            'slp{n:02d}',
            1,
            False,
            SLPDB, (_c('ECG', 'ECG', 250, 'mV', -5, 5),
                    _c('EEG (C4-A1)', 'EEG', 250, 'mV', -0.3, 0.3),
                    _c('Resp (chest)', 'THX', 250, 'l', -2, 2, scale=0.5),
                    _c('Resp (abdomen)', 'ABD', 250, 'l', -2, 2, scale=0.5),
                    _c('SO2', 'SpO2', 250, '%', 0, 100)),
            pop.OLDER,
            rk_stage4=True),
    )
}


def get(cohort: 'str | CohortSpec') -> CohortSpec:
  """Looks up a cohort by name (a clear error lists the known names)."""
  if isinstance(cohort, CohortSpec):
    return cohort
  try:
    return COHORTS[cohort]
  except KeyError:
    raise ValueError(f'Unknown cohort {cohort!r}; known: {sorted(COHORTS)}') from None
