"""Staging a night held in MNE: `predict_raw(model, raw)`.

  raw = mne.io.read_raw_edf('night.edf')
  night = wav2sleep_jax.predict_raw(model, raw, channels={'ECG': 'EKG', 'THX': 'Thor'})
  night.to_yasa().plot_hypnogram()

Channels are found under the mapping given, else under the project's channel
aliases (`psg.channels`, as for EDF files); each is resampled to the model's
rate like any other input (`runner.predict_signals`). The start time is
`raw.info['meas_date']` (plus `raw.first_time` for a cropped Raw) as a naive
clock time, as the EDF header gives it.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any, Mapping, Sequence

import numpy as np

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import runner
from wav2sleep_jax.inference.night_prediction import NightPrediction
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import reference_grid


def _as_labels(value: str | Sequence[str]) -> tuple[str, ...]:
  return (value,) if isinstance(value, str) else tuple(value)


def pick_channels(raw,
                  signals: Sequence[str],
                  channels: Mapping[str, str | Sequence[str]] | None = None) -> dict[str, str]:
  """{signal: channel name of `raw`} for every signal found; bad channels are left out.

  Raises:
    ValueError: `channels` names a signal outside `signals`, or a channel that `raw`
      lacks or marks bad.
  """
  channels = dict(channels or {})
  unknown = sorted(set(channels) - set(signals))
  if unknown:
    raise ValueError(f'channels maps {unknown}, which are not signals of this model '
                     f'({list(signals)}).')
  names, bads = list(raw.ch_names), set(raw.info['bads'])
  table = channels_lib.signal_table()
  picked = {}
  for signal in signals:
    if signal in channels:
      wanted = _as_labels(channels[signal])
      index = edf_lib.find_channel(names, wanted)
      if index is None:
        raise ValueError(f'{signal}: none of the channels {list(wanted)} is in the Raw '
                         f'(it has {names}).')
      if names[index] in bads:
        raise ValueError(f'{signal}: channel {names[index]!r} is marked bad in '
                         "raw.info['bads'].")
    else:
      good = [n if n not in bads else '' for n in names]
      index = edf_lib.find_channel(good, table[signal].aliases)
      if index is None:
        continue
    picked[signal] = names[index]
  return picked


def _start(raw) -> datetime.datetime | None:
  meas_date = raw.info['meas_date']
  if meas_date is None:
    return None
  start = meas_date + datetime.timedelta(seconds=float(raw.first_time))
  return start.replace(tzinfo=None)


def _edf_header(raw, index: int) -> dict[str, Any] | None:
  """MNE's scale to SI, the EDF unit, physical range and native rate of channel `index`
  (None if the Raw was not read from an EDF)."""
  extras = (getattr(raw, '_raw_extras', None) or [{}])[0]
  unit = (getattr(raw, '_orig_units', None) or {}).get(raw.ch_names[index], '')
  try:
    return dict(
        scale=float(extras['units'][index]),
        unit='' if unit == 'n/a' else unit,
        physical=(float(extras['physical_min'][index]), float(extras['physical_max'][index])),
        rate=float(extras['n_samps'][index]) / float(extras['record_length'][0]))
  except (KeyError, IndexError, TypeError, ZeroDivisionError):
    return None


def reference_channel(raw, index: int, signal: str, data_T: np.ndarray) -> tuple[np.ndarray, float]:
  """(samples, rate) of a channel of `raw` as the reference reads it from the EDF
  (`psg.reference_grid`): the header's unit and physical range, and its native samples
  (MNE upsamples a slower channel to the Raw's rate keeping every native sample); from
  MNE's SI volts at the Raw's rate for a Raw not read from an EDF."""
  rate = float(raw.info['sfreq'])
  header = _edf_header(raw, index)
  if header is None:
    return reference_grid.to_reference_units(signal, data_T, 'V', None), rate
  factor = rate / header['rate']
  if header['rate'] < rate and abs(factor - round(factor)) < 1e-9:
    step = int(round(factor))
    data_T, rate = data_T[(-raw.first_samp) % step::step], header['rate']
  scaled = reference_grid.to_reference_units(signal, data_T / header['scale'], header['unit'],
                                             header['physical'])
  return scaled, rate


def predict_raw(model: model_lib.StagingModel | str | os.PathLike[str],
                raw: Any,
                channels: Mapping[str, str | Sequence[str]] | None = None,
                *,
                signals: Sequence[str] | None = None,
                name: str = '',
                preprocessing: str | prep_lib.Preprocessing | None = None,
                max_hours: float | None = None) -> NightPrediction:
  """Stages the night in an `mne.io.BaseRaw`.

  Args:
    model: a `StagingModel` or a checkpoint path.
    raw: the recording (any rate; loaded here if not preloaded).
    channels: signal -> channel name (or names, first present wins), e.g.
      {'ECG': 'EKG'}; signals left out are looked up under the default aliases.
    signals: subset of the model's signals to use (default: all it has).
    name: the night's name (default: the Raw's file name without extension).
    preprocessing, max_hours: see `runner.run_preprocessing` (default: the model's
      own). `reference` takes the reference's units from the EDF header MNE read
      (unit, physical range, native samples; `reference_channel`).

  Raises:
    ValueError: no channel of the model's signals in `raw`, a bad mapping, or an
      unusable night (see `runner.predict_signals`).
  """
  if not isinstance(model, model_lib.StagingModel):
    model = model_lib.load_model(model)
  wanted = runner.wanted_signals(model, signals)
  picked = pick_channels(raw, wanted, channels)
  if not picked:
    raise ValueError(f'No channel for the signals {list(wanted)} in the Raw (channels '
                     f'{list(raw.ch_names)}); pass channels={{"ECG": "<name>", ...}}.')
  prep = runner.run_preprocessing(model, preprocessing, max_hours)
  rate = float(raw.info['sfreq'])
  data_CT = raw.get_data(picks=list(picked.values()))
  night = {signal: (data_CT[i], rate) for i, signal in enumerate(picked)}
  if prep.is_reference:
    night = {
        signal: reference_channel(raw, raw.ch_names.index(picked[signal]), signal, x)
        for signal, (x, _) in night.items()
    }
  prediction = runner.predict_signals(model, night, preprocessing=prep)
  if not name and raw.filenames and raw.filenames[0]:
    name = os.path.splitext(os.path.basename(os.fspath(raw.filenames[0])))[0]
  return dataclasses.replace(prediction, start=_start(raw), name=name)
