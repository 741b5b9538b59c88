"""Writes generated nights in a cohort's NSRR layout: EDF + NSRR XML, or EDF + WSC text files.

File formats written:
- EDF (`edf_writer`): one signal per channel at its native rate (1-s data records), physical
  units and ranges of the cohort table, anonymised header with start date 01.01.85 as NSRR
  distributes them.
- NSRR XML (`<id>-nsrr.xml`): every element on its own line; a `Recording Start Time` event with
  `ClockTime` `00.00.00 HH.MM.SS`; stage runs (`Stages|Stages`, `Wake|0` ... `REM sleep|5`,
  `Unscored|9`) interleaved by start time with respiratory, desaturation, arousal and limb
  events. In some nights (a fixed function of the record id) all stage events come last.
- WSC: `<id>.stg.txt` (tab-separated `Epoch`, `User-Defined Stage`, epochs from 1, codes 0-5,
  7 = unscored; some nights have no header line), `<id>.log.txt` (lines
  `HH:MM:SS <epoch><TAB>text` as in the real logs: the 30-s epoch number counted from 1 at the
  recording start, 0 before it; `Lights Off` precedes `Recording Started`), `<id>.allscore.txt`
  (`HH:MM:SS.fff<TAB>text`,
  `START RECORDING`, stage changes `STAGE - W|N1|N2|N3|R|NO STAGE`, events, `STOP RECORDING`).
Stage codes and their texts: `scorer_codes`. The open datasets' files: `open_writers`.
"""

import datetime
import os
import zlib
from collections.abc import Iterator, Sequence

import numpy as np

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.core import stages
from wav2sleep_jax.synthetic import edf_writer
from wav2sleep_jax.synthetic import events as ev
from wav2sleep_jax.synthetic import layouts
from wav2sleep_jax.synthetic import open_writers
from wav2sleep_jax.synthetic import scorer_codes as codes_lib
from wav2sleep_jax.synthetic.night_generator import generate_night
from wav2sleep_jax.synthetic.night_generator import Night

EPOCH_SECONDS = grid.EPOCH_SECONDS
_EVENT_XML = {
    ev.OBSTRUCTIVE_APNEA: ('Respiratory|Respiratory', 'Obstructive apnea|Obstructive Apnea', 'ABD'),
    ev.CENTRAL_APNEA: ('Respiratory|Respiratory', 'Central apnea|Central Apnea', 'ABD'),
    ev.HYPOPNEA: ('Respiratory|Respiratory', 'Hypopnea|Hypopnea', 'ABD'),
    ev.DESATURATION: ('Respiratory|Respiratory', 'SpO2 desaturation|SpO2 desaturation', 'SpO2'),
    ev.AROUSAL: ('Arousals|Arousals', 'Arousal|Arousal ()', None),
    ev.LIMB_MOVEMENT:
        ('Limb Movement|Limb Movement', 'Limb movement - left|Limb Movement (Left)', None),
}
_EVENT_TEXT = {
    ev.OBSTRUCTIVE_APNEA: 'OBS APNEA',
    ev.CENTRAL_APNEA: 'CNT APNEA',
    ev.HYPOPNEA: 'HYPOPNEA',
    ev.DESATURATION: 'DESATURATION',
    ev.AROUSAL: 'AROUSAL',
    ev.LIMB_MOVEMENT: 'LM'
}
_WSC_STAGE_TEXT = codes_lib.aasm_texts('NO STAGE')
_WSC_UNSCORED = 7  # The .stg.txt code of unscored epochs.


def _variant(record_id: str, modulo: int) -> bool:
  """Deterministic per-record format variant (1 in `modulo` records)."""
  return zlib.crc32(record_id.encode()) % modulo == 0


def nsrr_xml(night: Night) -> str:
  """The NSRR XML text of a night."""
  label_of = {c.source: label for label, c in night.channels.items()}
  clock = night.start_time.strftime('%H.%M.%S')
  lines = [
      '<?xml version="1.0" encoding="UTF-8" standalone="no"?>', '<PSGAnnotation>',
      '<SoftwareVersion>Compumedics</SoftwareVersion>',
      f'<EpochLength>{EPOCH_SECONDS}</EpochLength>', '<ScoredEvents>', '<ScoredEvent>',
      '<EventType/>', '<EventConcept>Recording Start Time</EventConcept>', '<Start>0</Start>',
      f'<Duration>{night.duration_s:.1f}</Duration>', f'<ClockTime>00.00.00 {clock}</ClockTime>',
      '</ScoredEvent>'
  ]
  items = []
  for first, count, code in stages.runs(night.stage_codes):
    start = first * float(EPOCH_SECONDS)
    items.append((start, 0, [
        '<ScoredEvent>', '<EventType>Stages|Stages</EventType>',
        f'<EventConcept>{codes_lib.NSRR_CONCEPTS[code]}</EventConcept>',
        f'<Start>{start:.1f}</Start>', f'<Duration>{count * float(EPOCH_SECONDS):.1f}</Duration>',
        '</ScoredEvent>'
    ]))
  for e in night.events:
    etype, concept, where = _EVENT_XML[e.kind]
    body = [
        '<ScoredEvent>', f'<EventType>{etype}</EventType>',
        f'<EventConcept>{concept}</EventConcept>', f'<Start>{e.start:.1f}</Start>',
        f'<Duration>{e.duration:.1f}</Duration>'
    ]
    if where is not None and where in label_of:
      body.append(f'<SignalLocation>{label_of[where]}</SignalLocation>')
    if e.kind == ev.DESATURATION:
      body += [
          f'<SpO2Nadir>{e.nadir:.0f}</SpO2Nadir>', f'<SpO2Baseline>{e.baseline:.0f}</SpO2Baseline>'
      ]
    items.append((e.start, 1, body + ['</ScoredEvent>']))
  if _variant(night.record_id, 5):
    items.sort(key=lambda it: (it[1] == 0, it[0]))  # Stage events after all others.
  else:
    items.sort(key=lambda it: (it[0], it[1]))
  for _, _, body in items:
    lines += body
  lines += ['</ScoredEvents>', '</PSGAnnotation>', '']
  return '\n'.join(lines)


def _clock(start: datetime.datetime, seconds: float) -> str:
  t = start + datetime.timedelta(seconds=seconds)
  return t.strftime('%H:%M:%S.') + f'{t.microsecond // 1000:03d}'


def wsc_stg(night: Night) -> str:
  codes = np.where(night.stage_codes == codes_lib.UNSCORED_CODE, _WSC_UNSCORED, night.stage_codes)
  lines = [] if _variant(night.record_id, 4) else ['Epoch\tUser-Defined Stage']
  lines += [f'{i + 1}\t{c}' for i, c in enumerate(codes)]
  return '\n'.join(lines) + '\n'


def wsc_log(night: Night) -> str:
  """The `.log.txt` text: `HH:MM:SS <epoch><TAB>text` (epoch 0 before the recording starts)."""
  scored = np.flatnonzero(night.stage_codes != codes_lib.UNSCORED_CODE)
  lights_on = float(EPOCH_SECONDS) * (scored[-1] + 1) if scored.size else night.duration_s
  rows = [(-95.0, 'Lights Off'), (0.0, 'Recording Started'), (12.0, 'Impedance check OK'),
          (lights_on, 'Lights On'), (night.duration_s, 'Recording Stopped')]
  lines = []
  for t, text in rows:
    clock = (night.start_time + datetime.timedelta(seconds=t)).strftime('%H:%M:%S')
    epoch = int(t // EPOCH_SECONDS) + 1 if t >= 0 else 0
    lines.append(f'{clock} {epoch}\t{text}\n')
  return ''.join(lines)


def wsc_allscore(night: Night) -> str:
  rows = [(0.0, 0, 'START RECORDING'), (float(EPOCH_SECONDS), 1, 'LIGHTS OUT')]
  for first, _, code in stages.runs(night.stage_codes):
    rows.append((first * float(EPOCH_SECONDS), 2, f'STAGE - {_WSC_STAGE_TEXT[code]}'))
  for e in night.events:
    text = _EVENT_TEXT[e.kind]
    if e.kind == ev.DESATURATION:
      text += f' - {e.nadir:.0f}%'
    rows.append((e.start, 3, text))
  rows.append((night.duration_s, 4, 'STOP RECORDING'))
  rows.sort(key=lambda r: (r[0], r[1]))
  return ''.join(f'{_clock(night.start_time, t)}\t{text}\n' for t, _, text in rows)


def write_night(
    night: Night, output_dir: str,
    defects: edf_writer.Defects = edf_writer.Defects()) -> dict[str, str]:
  """Writes the EDF and annotation files of `night`; returns {kind: absolute path}.

  Open datasets (`layouts.OPEN_FORMATS`) are written by `open_writers.write_open_night`
  (then 'signal' is the file to read; `defects` do not apply).
  """
  spec = layouts.get(night.cohort)
  if spec.annotation_format in layouts.OPEN_FORMATS:
    return open_writers.write_open_night(night, output_dir)
  paths = {
      'edf': spec.edf_path(night.record_id, night.visit),
      **spec.annotation_paths(night.record_id, night.visit)
  }
  paths = {k: os.path.join(output_dir, v) for k, v in paths.items()}
  edf_writer.write_edf(paths['edf'], night, defects)
  texts = {}
  if spec.annotation_format == layouts.NSRR_XML:
    texts['nsrr_xml'] = nsrr_xml(night)
  else:
    texts.update(stg=wsc_stg(night), log=wsc_log(night), allscore=wsc_allscore(night))
  for kind, text in texts.items():
    os.makedirs(os.path.dirname(paths[kind]), exist_ok=True)
    with open(paths[kind], 'w', encoding='utf-8') as f:
      f.write(text)
  return paths


def iter_write_cohort(cohort: 'str | layouts.CohortSpec',
                      n_nights: int,
                      output_dir: str,
                      seed: int = 0,
                      hours: float | None = None,
                      visits: Sequence[str] | None = None,
                      stage_contrast: float = 1.0) -> Iterator[Night]:
  """Generates and writes nights one at a time, yielding each written night.

  Each participant index 0..n_nights-1 gets one night per visit in `visits` (default: the
  cohort's first visit only), so visits of one participant share the participant number.
  """
  spec = layouts.get(cohort)
  for visit in visits or spec.visits[:1]:
    if visit not in spec.visits:
      raise ValueError(f'{spec.name} has visits {spec.visits}, not {visit!r}.')
  for index in range(n_nights):
    for visit in visits or spec.visits[:1]:
      night = generate_night(
          spec,
          seed=seed,
          night_index=index,
          hours=hours,
          visit=visit,
          stage_contrast=stage_contrast)
      write_night(night, output_dir)
      yield night


def write_cohort(cohort: 'str | layouts.CohortSpec',
                 n_nights: int,
                 output_dir: str,
                 seed: int = 0,
                 hours: float | None = None,
                 visits: Sequence[str] | None = None,
                 stage_contrast: float = 1.0) -> list[str]:
  """Writes `n_nights` nights of `cohort` under `output_dir`; returns the record ids."""
  return [
      n.record_id
      for n in iter_write_cohort(cohort, n_nights, output_dir, seed, hours, visits, stage_contrast)
  ]
