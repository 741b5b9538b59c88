"""Writes generated nights in the open PhysioNet datasets' layouts (`layouts.OPEN_FORMATS`).

- cinc2018: WFDB record `trXX-XXXX.hea` whose signals sit in `trXX-XXXX.mat`, a MATLAB v4
  matrix `val` [signals x samples] of int16 as `wfdb2mat` writes it (header line
  `trXX-XXXX.mat 16+24`: fmt 16 after the 24-byte MAT header); `.arousal` with NOTE
  annotations: a stage ('W', 'N1', 'N2', 'N3', 'R'; 'undefined' for unscored epochs after the
  first stage) where a stage begins, and arousal/respiratory events as '(name' ... 'name)' pairs.
- hmc: `SNxxx.edf` and `SNxxx_sleepscoring.edf`, an EDF+ annotation file ('Sleep stage W' ...
  'Sleep stage ?', 30 s each, 'Lights off' / 'Lights on'), optionally off the signal's grid.
- ucddb: `ucddbXXX.rec` (an EDF) and `ucddbXXX_stage.txt`, one code per epoch (0 W, 1 REM,
  2-5 S1-S4, 7 indeterminate).
- slpdb: WFDB record fmt 212 (`slpXX.hea`, `.dat`) and `.st`: one NOTE per 30-s epoch whose aux
  starts with the R&K stage (W, 1, 2, 3, 4, R; MT for unscored) followed by event tokens.

Signals and annotations go through the `wfdb` package's writers (`wrsamp`, `wrann`) and edfio.
"""

from __future__ import annotations

import os
import struct

import edfio
import numpy as np
import wfdb

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.core import stages
from wav2sleep_jax.synthetic import edf_writer
from wav2sleep_jax.synthetic import events as ev
from wav2sleep_jax.synthetic import layouts
from wav2sleep_jax.synthetic import scorer_codes as codes_lib
from wav2sleep_jax.synthetic.night_generator import Night

EPOCH_SECONDS = grid.EPOCH_SECONDS
_CINC_STAGES = codes_lib.aasm_texts('undefined')
_CINC_EVENTS = {
    ev.OBSTRUCTIVE_APNEA: 'resp_obstructiveapnea',
    ev.CENTRAL_APNEA: 'resp_centralapnea',
    ev.HYPOPNEA: 'resp_hypopnea',
    ev.AROUSAL: 'arousal_rera'
}
_SLPDB_STAGES = {0: 'W', 1: '1', 2: '2', 3: '3', 4: '4', 5: 'R', 9: 'MT'}
_SLPDB_EVENTS = {
    ev.OBSTRUCTIVE_APNEA: 'OA',
    ev.CENTRAL_APNEA: 'CA',
    ev.HYPOPNEA: 'H',
    ev.AROUSAL: 'A',
    ev.LIMB_MOVEMENT: 'L'
}
_HMC_STAGES = codes_lib.aasm_texts('?')
_UCDDB_CODES = {0: 0, 1: 2, 2: 3, 3: 4, 4: 5, 5: 1, 9: 7}
_MAT_HEADER_BYTES = 24  # MAT v4: five int32 (type, rows, cols, imag, name length) + 'val\0'.


def _one_rate(night: Night) -> int:
  rates = {c.rate for c in night.channels.values()}
  if len(rates) != 1:
    raise ValueError(f'{night.record_id}: a WFDB record needs one rate, got {sorted(rates)}')
  return rates.pop()


def write_wfdb(hea_path: str, night: Night, fmt: str = '212') -> None:
  """Writes the night's channels as a WFDB record (fmt '212', '16' or 'mat')."""
  folder, name = os.path.split(hea_path)
  name = name[:-len('.hea')]
  os.makedirs(folder or '.', exist_ok=True)
  signal_BC = np.stack([c.data for c in night.channels.values()], axis=1).astype(np.float64)
  wfdb.wrsamp(
      name,
      fs=_one_rate(night),
      units=[c.unit or 'NU' for c in night.channels.values()],
      sig_name=list(night.channels),
      p_signal=signal_BC,
      fmt=['16' if fmt == 'mat' else fmt] * signal_BC.shape[1],
      write_dir=folder or '.',
      base_time=night.start_time.time(),
      base_date=night.start_time.date())
  if fmt == 'mat':
    _dat_to_mat(os.path.join(folder, name), signal_BC.shape)


def _dat_to_mat(base: str, shape: tuple[int, int]) -> None:
  """`<base>.dat` (fmt 16, frames of all signals) -> `<base>.mat` as wfdb2mat writes it."""
  num_samples, num_signals = shape
  with open(base + '.dat', 'rb') as f:
    data = f.read()
  header = struct.pack('<5i', 30, num_signals, num_samples, 0, 4) + b'val\0'  # 30: int16.
  assert len(header) == _MAT_HEADER_BYTES
  with open(base + '.mat', 'wb') as f:
    f.write(header + data)
  os.remove(base + '.dat')
  name = os.path.basename(base)
  with open(base + '.hea', encoding='ascii') as f:
    lines = f.read().splitlines()
  lines = [ln.replace(f'{name}.dat 16 ', f'{name}.mat 16+{_MAT_HEADER_BYTES} ', 1) for ln in lines]
  with open(base + '.hea', 'w', encoding='ascii') as f:
    f.write('\n'.join(lines) + '\n')


def _write_notes(path: str, notes: list[tuple[int, str]], rate: int) -> None:
  folder, file_name = os.path.split(path)
  name, extension = os.path.splitext(file_name)
  notes = sorted(notes, key=lambda n: n[0])
  wfdb.wrann(
      name,
      extension[1:],
      np.array([s for s, _ in notes], dtype=np.int64),
      symbol=['"'] * len(notes),
      aux_note=[a for _, a in notes],
      write_dir=folder or '.')


def cinc2018_notes(night: Night, rate: int) -> list[tuple[int, str]]:
  """(sample, aux) of the `.arousal` file: stage notes where a stage begins, event pairs."""
  notes, last = [], None
  for first, _, code in stages.runs(night.stage_codes):
    text = _CINC_STAGES[int(code)]
    if (last is None and text == 'undefined') or text == last:
      continue  # Epochs before the first stage note are unscored anyway.
    notes.append((first * EPOCH_SECONDS * rate, text))
    last = text
  for e in night.events:
    if e.kind in _CINC_EVENTS:
      start = int(e.start * rate)
      notes += [(start, f'({_CINC_EVENTS[e.kind]}'),
                (start + max(int(e.duration * rate), 1), f'{_CINC_EVENTS[e.kind]})')]
  return notes


def slpdb_notes(night: Night, rate: int) -> list[tuple[int, str]]:
  """(sample, aux) of the `.st` file: one note per epoch, stage first, then events in it."""
  tokens = [[_SLPDB_STAGES[int(c)]] for c in night.stage_codes]
  for e in night.events:
    epoch = int(e.start // EPOCH_SECONDS)
    if e.kind in _SLPDB_EVENTS and epoch < len(tokens):
      tokens[epoch].append(_SLPDB_EVENTS[e.kind])
  # As in the real files, the first note sits at sample 1.
  return [(max(i * EPOCH_SECONDS * rate, 1), ' '.join(t)) for i, t in enumerate(tokens)]


def hmc_scoring(path: str, night: Night, offset_s: float = 0.0) -> None:
  """The EDF+ scoring file; stage onsets `offset_s` after the signal's 30-s grid."""
  items = [edfio.EdfAnnotation(0.0, None, 'Lights off')]
  epoch_s = float(EPOCH_SECONDS)
  items += [
      edfio.EdfAnnotation(i * epoch_s + offset_s, epoch_s, f'Sleep stage {_HMC_STAGES[int(c)]}')
      for i, c in enumerate(night.stage_codes)
  ]
  items.append(edfio.EdfAnnotation(night.duration_s - 1.0, None, 'Lights on'))
  edf = edfio.Edf([],
                  annotations=items,
                  patient=edfio.Patient(),
                  recording=edfio.Recording(startdate=night.start_time.date()),
                  starttime=night.start_time.time())
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  edf.write(path)


def ucddb_stage_text(night: Night) -> str:
  return ''.join(f'{_UCDDB_CODES[int(c)]}\n' for c in night.stage_codes)


def write_open_night(night: Night, output_dir: str, hmc_offset_s: float = 0.0) -> dict[str, str]:
  """Writes one night of an open dataset; returns {kind: path}, 'signal' the file to read."""
  spec = layouts.get(night.cohort)
  paths = {'signal': spec.edf_path(night.record_id), **spec.annotation_paths(night.record_id)}
  paths = {k: os.path.join(output_dir, v) for k, v in paths.items()}
  fmt = spec.annotation_format
  if fmt in (layouts.CINC2018, layouts.SLPDB):
    rate = _one_rate(night)
    write_wfdb(paths['signal'], night, 'mat' if fmt == layouts.CINC2018 else '212')
    notes = (cinc2018_notes if fmt == layouts.CINC2018 else slpdb_notes)(night, rate)
    _write_notes(paths['arousal' if fmt == layouts.CINC2018 else 'st'], notes, rate)
  elif fmt == layouts.HMC:
    edf_writer.write_edf(paths['signal'], night)
    hmc_scoring(paths['sleepscoring'], night, hmc_offset_s)
  else:
    edf_writer.write_edf(paths['signal'], night)  # EDF content under the '.rec' name.
    with open(paths['stage'], 'w', encoding='ascii') as f:
      f.write(ucddb_stage_text(night))
  return paths
