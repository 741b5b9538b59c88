"""A MESA-layout manual dir with one night per input defect (for skip-report tests)."""

from __future__ import annotations

import os
import pathlib
import re

from wav2sleep_jax import synthetic
from wav2sleep_jax.synthetic import edf_writer
from wav2sleep_jax.synthetic import writers

HOURS = 0.1  # 12 epochs; every such MESA night has N1, N3 or REM.
MODEL_LABELS = ('EKG', 'Pleth', 'Thor', 'Abdo')

# Night index -> (defect, stage, text expected in the reason, action).
EXPECTED = {
    2: ('corrupt EDF', 'edf', 'not an EDF', 'night skipped'),
    3: ('truncated EDF', 'edf', 'truncated EDF', 'night skipped'),
    4: ('missing channel', 'channel', 'THX: no channel labelled', 'channel absent'),
    5: ('flat channel', 'channel', "ABD (label 'Abdo'): flat line", 'channel absent'),
    6: ('all-NaN channel', 'channel', "PPG (label 'Pleth'): all samples are NaN", 'channel absent'),
    7: ('physical max 0', 'channel', "ECG (label 'EKG'): physical max is 0", 'channel absent'),
    8: ('malformed XML', 'annotation', 'malformed XML', 'night skipped'),
    9: ('non-30 duration', 'annotation', 'Duration 45 s is not a multiple of 30', 'night skipped'),
    10: ('annotation longer', 'alignment', 'annotation longer than signals: 14 '
         'epochs scored, EDF has 12', 'labels cropped'),
    11: ('annotation shorter', 'alignment', 'annotation shorter than signals',
         'labels padded with -1'),
    12: ('no usable signal', 'channel', 'no usable signal', 'night skipped'),
    13: ('sleep/wake-only', 'exclusion', 'sleep/wake-only', 'night skipped'),
    14: ('unknown stage', 'annotation', "unknown sleep stage concept 'Stage 8 sleep|8'",
         'night skipped'),
    15: ('no annotation', 'annotation', 'no annotation file found', 'night skipped'),
}
GOOD = (0, 1)  # Nights without defects.
KEPT = GOOD + (4, 5, 6, 7, 10, 11)  # Nights that are built (maybe less a channel).


def record_id(index: int) -> str:
  return synthetic.COHORTS['mesa'].record_id(index)


def _stage_events(xml: str) -> list[re.Match]:
  return list(
      re.finditer(
          r'<ScoredEvent>\n<EventType>Stages\|Stages</EventType>\n.*?</ScoredEvent>\n',
          xml,
          flags=re.S))


def write_defects(root: pathlib.Path, indices=None) -> None:
  """Writes nights 0..15 of MESA (or `indices`); night i has the defect EXPECTED[i]."""
  for index in indices if indices is not None else list(GOOD) + sorted(EXPECTED):
    night = synthetic.generate_night('mesa', seed=0, night_index=index, hours=HOURS)
    defects = edf_writer.Defects()
    if index == 4:
      channels = dict(night.channels)
      thor = channels.pop('Thor')
      channels['Xyz'] = thor.__class__(**{**thor.__dict__, 'label': 'Xyz'})
      night = night.__class__(**{**night.__dict__, 'channels': channels})
    elif index == 5:
      defects = edf_writer.Defects(flat=('Abdo',))
    elif index == 7:
      defects = edf_writer.Defects(physical_max_zero=('EKG',))
    elif index == 12:
      defects = edf_writer.Defects(flat=MODEL_LABELS)
    paths = writers.write_night(night, str(root), defects)
    edf, xml_path = pathlib.Path(paths['edf']), pathlib.Path(paths['nsrr_xml'])
    xml = xml_path.read_text()
    if index == 2:
      edf.write_bytes(b'garbage!' * 64 + edf.read_bytes()[512:])
    elif index == 3:
      edf.write_bytes(edf.read_bytes()[:-3000])
    elif index == 6:
      edf_writer.set_physical_max(str(edf), 'Pleth', float('nan'))
    elif index == 8:
      xml_path.write_text(xml[:len(xml) // 2])
    elif index == 9:
      first = _stage_events(xml)[0]
      event = re.sub(r'<Duration>[\d.]+</Duration>', '<Duration>45.0</Duration>', first.group(0))
      xml_path.write_text(xml[:first.start()] + event + xml[first.end():])
    elif index == 10:
      extra = ('<ScoredEvent>\n<EventType>Stages|Stages</EventType>\n'
               '<EventConcept>Wake|0</EventConcept>\n'
               f'<Start>{night.duration_s:.1f}</Start>\n<Duration>60.0</Duration>\n'
               '</ScoredEvent>\n')
      xml_path.write_text(xml.replace('</ScoredEvents>', extra + '</ScoredEvents>'))
    elif index == 11:
      last = max(
          _stage_events(xml),
          key=lambda m: float(re.search(r'<Start>([\d.]+)', m.group(0)).group(1)))
      xml_path.write_text(xml[:last.start()] + xml[last.end():])
    elif index == 13:
      xml_path.write_text(re.sub(r'Stage [134] sleep\|[134]|REM sleep\|5', 'Stage 2 sleep|2', xml))
    elif index == 14:
      xml_path.write_text(xml.replace('Stage 2 sleep|2', 'Stage 8 sleep|8', 1))
    elif index == 15:
      os.remove(xml_path)
