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

from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import runner
from wav2sleep_jax.inference.night_prediction import NightPrediction
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import edf as edf_lib


def _as_labels(value: str | Sequence[str]) -> tuple[str, ...]:
  return (value,) if isinstance(value, str) else tuple(value)


def pick_channels(raw, signals: Sequence[str],
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


def predict_raw(model: model_lib.StagingModel | str | os.PathLike[str],
                raw: Any,
                channels: Mapping[str, str | Sequence[str]] | None = None,
                *,
                signals: Sequence[str] | None = None,
                name: str = '') -> NightPrediction:
  """Stages the night in an `mne.io.BaseRaw`.

  Args:
    model: a `StagingModel` or a checkpoint path.
    raw: the recording (any rate; loaded here if not preloaded).
    channels: signal -> channel name (or names, first present wins), e.g.
      {'ECG': 'EKG'}; signals left out are looked up under the default aliases.
    signals: subset of the model's signals to use (default: all it has).
    name: the night's name (default: the Raw's file name without extension).

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
  rate = float(raw.info['sfreq'])
  data_CT = raw.get_data(picks=list(picked.values()))
  night = {signal: (data_CT[i], rate) for i, signal in enumerate(picked)}
  prediction = runner.predict_signals(model, night)
  if not name and raw.filenames and raw.filenames[0]:
    name = os.path.splitext(os.path.basename(os.fspath(raw.filenames[0])))[0]
  return dataclasses.replace(prediction, start=_start(raw), name=name)
