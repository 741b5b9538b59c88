"""Sleep staging of whole nights: the API functions and the folder runner.

  model = wav2sleep_jax.load_model('checkpoint')        # ours or a reference folder
  night = wav2sleep_jax.predict_signals(model, {'ECG': (ecg, 256.0), 'THX': (thx, 32.0)})
  night = wav2sleep_jax.predict_edf(model, 'shhs1-200001.edf')  # + scored labels if found
  predict_files(model, 'edfs/', 'out/')   # what `python -m wav2sleep_jax.predict` runs

Every signal is z-scored over the whole night (the causal EMA normaliser for
causal models), as in training. `predict_files` pads nights to length
buckets (`bucket_hours`) with exact padding (the model's `valid_epochs_B`: norm
statistics over the night's own epochs, padding kept at zero before every
convolution), so a night's predictions equal its unpadded ones and nights of
different lengths share a batch; compilations are bounded by buckets x signal
sets x batch sizes. `predict_signals` runs nights at their exact length (nights of
equal length and signal set share a batch).

Outputs of `predict_files` (paths relative to the output folder): the files
of `output_files` per night (<name> is the input's path relative to the input
folder, without its extension), summary.csv and the report, plus
skipped.csv/.json (every skipped night, absent channel, ignored label).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import math
import os
import pathlib
import time
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from wav2sleep_jax.core import output_paths
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.core import stages as stages_lib
from wav2sleep_jax.data import normalize as normalize_lib
from wav2sleep_jax.inference import batching
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import output_files
from wav2sleep_jax.inference.night_prediction import NightPrediction
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import input_files
from wav2sleep_jax.psg import night as night_lib
from wav2sleep_jax.psg import reference_grid
from wav2sleep_jax.psg import resample
from wav2sleep_jax.psg import skip_report as report_lib

EPOCH_SECONDS = signals_lib.EPOCH_SECONDS
SKIPPED_NAME = 'skipped'
SUMMARY_FILE = output_files.SUMMARY_FILE

# --- Preparing model inputs -------------------------------------------------


def _as_model(model: model_lib.StagingModel | str | os.PathLike[str]) -> model_lib.StagingModel:
  if isinstance(model, model_lib.StagingModel):
    return model
  return model_lib.load_model(model)


def wanted_signals(model: model_lib.StagingModel, signals: Sequence[str] | None) -> tuple[str, ...]:
  """The signals to use: `signals` (a subset of the model's) or all of them."""
  if not signals:
    return model.signals
  unknown = [s for s in signals if s not in model.signals]
  if unknown:
    raise ValueError(f'Signals {unknown} are not inputs of this model; it takes '
                     f'{list(model.signals)}.')
  return tuple(s for s in model.signals if s in signals)


def run_preprocessing(model: model_lib.StagingModel,
                      preprocessing: str | prep_lib.Preprocessing | None = None,
                      max_hours: float | None = None) -> prep_lib.Preprocessing:
  """The preprocessing to run `model` with: its own, unless overridden.

  `max_hours` sets the grid of `reference` preprocessing (refused for ours, which
  never crops). An override unlike the model's own is warned about by name.
  """
  import logging

  prep = preprocessing or model.preprocessing
  if isinstance(prep, str):
    prep = prep_lib.from_name(prep)
  if max_hours is not None:
    if not prep.is_reference:
      raise prep_lib.PreprocessingError(
          f'max_hours={max_hours:g} applies to {prep_lib.REFERENCE!r} preprocessing only; '
          f'{prep.describe()} never crops a night.')
    prep = prep_lib.reference(max_hours)
  if prep.name != model.preprocessing.name:
    logging.getLogger('wav2sleep_jax').warning(
        'Running the model with %s preprocessing, but its weights were trained with %s '
        'preprocessing: predictions will not be those of the model as trained.', prep.describe(),
        model.preprocessing.describe())
  return prep


def normalize_night(model: model_lib.StagingModel,
                    x: Mapping[str, np.ndarray],
                    preprocessing: prep_lib.Preprocessing | None = None) -> dict[str, np.ndarray]:
  """Per-night normalisation of each signal, as in training (`preprocessing`, default the
  model's: `reference` z-scores over its whole grid, or its EMA normaliser for causal
  models)."""
  prep = preprocessing or model.preprocessing
  if prep.is_reference:
    if model.config.causal:
      return {
          n: normalize_lib.reference_causal_normalize(v, signals_lib.sample_rate_hz(n))
          for n, v in x.items()
      }
    return {n: normalize_lib.reference_zscore(v) for n, v in x.items()}
  if model.config.causal:
    return {
        n: normalize_lib.causal_normalize(v, signals_lib.sample_rate_hz(n)) for n, v in x.items()
    }
  return {n: normalize_lib.zscore(np.asarray(v, np.float32)[None])[0] for n, v in x.items()}


def signal_problem(x: np.ndarray) -> str | None:
  """Why a model-rate signal cannot enter the model, or None.

  The float32 z-score sums squared deviations over the night, so samples must
  stay below sqrt(float32 max / samples) / 2 to leave it finite and exact.
  """
  x = np.asarray(x)
  finite = np.isfinite(x)
  if not finite.any():
    return 'all samples are NaN/inf'
  largest = float(np.max(np.abs(x[finite]), initial=0.0))
  limit = math.sqrt(float(np.finfo(np.float32).max) / max(x.size, 1)) / 2
  if largest > limit:
    return (f'samples up to {largest:.3g} overflow the float32 normalisation '
            f'(limit {limit:.3g} for {x.size} samples)')
  return None


def checked_night(
    model: model_lib.StagingModel,
    x: Mapping[str, np.ndarray],
    preprocessing: prep_lib.Preprocessing | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
  """Normalised usable signals of a night, and {signal: reason} for dropped ones.

  A signal is dropped if `signal_problem` finds one, or if its normalised
  samples are not all finite, so that one bad night never reaches a batch.
  """
  problems = {n: r for n, v in x.items() if (r := signal_problem(v)) is not None}
  normalized = normalize_night(model, {
      n: v for n, v in x.items() if n not in problems
  }, preprocessing)
  for name, v in list(normalized.items()):
    if not np.isfinite(v).all():
      problems[name] = 'non-finite values after normalisation'
      del normalized[name]
  return normalized, problems


def _model_rate_signals(model: model_lib.StagingModel,
                        signals: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], int]:
  """{name: array at the model rate or (array, rate_hz)} -> (present signals, epochs)."""
  if not isinstance(signals, Mapping) or not signals:
    raise ValueError('A night is a non-empty dict {signal name: samples or (samples, rate_hz)}.')
  wanted_signals(model, list(signals))
  x, epochs = {}, {}
  for name, value in signals.items():
    k = signals_lib.samples_per_epoch(name)
    if isinstance(value, tuple):
      data, rate = value
      data = resample.resample_signal(
          np.asarray(data, np.float64), float(rate), signals_lib.sample_rate_hz(name))
    else:
      data = np.asarray(value, np.float32)
    if data.ndim != 1:
      raise ValueError(f'{name}: expected one night of samples (1-D), got shape {data.shape}.')
    if not np.isfinite(data).any():
      continue  # All NaN/inf: absent.
    x[name] = resample.fill_nonfinite(data).astype(np.float32)
    epochs[name] = len(data) // k
  if not x:
    raise ValueError('No present signal: every signal is entirely NaN/inf.')
  num_epochs = min(epochs.values())
  if max(epochs.values()) - num_epochs > 1:
    raise ValueError(f'Signals cover different numbers of 30-s epochs: {epochs}.')
  if num_epochs < 1:
    raise ValueError(f'The night is shorter than one {EPOCH_SECONDS}-s epoch: {epochs}.')
  return {n: v[:num_epochs * signals_lib.samples_per_epoch(n)] for n, v in x.items()}, num_epochs


def _reference_grid_signals(model: model_lib.StagingModel, signals: Mapping[str, Any],
                            prep: prep_lib.Preprocessing) -> tuple[dict[str, np.ndarray], int]:
  """Arrays -> (signals on the reference grid, the night's epochs on it); no unit scaling."""
  wanted_signals(model, list(signals) if isinstance(signals, Mapping) else None)
  if not isinstance(signals, Mapping) or not signals:
    raise ValueError('A night is a non-empty dict {signal name: samples or (samples, rate_hz)}.')
  x, epochs = {}, {}
  for name, value in signals.items():
    data, rate = value if isinstance(value, tuple) else (value, signals_lib.sample_rate_hz(name))
    data = np.asarray(data, np.float64)
    if data.ndim != 1:
      raise ValueError(f'{name}: expected one night of samples (1-D), got shape {data.shape}.')
    if not np.isfinite(data).any():
      continue  # All NaN/inf: absent.
    x[name] = reference_grid.to_grid(data, float(rate), signals_lib.samples_per_epoch(name),
                                     prep.max_hours)
    epochs[name] = resample.complete_epochs(data.size, float(rate))
  if not x:
    raise ValueError('No present signal: every signal is entirely NaN/inf.')
  if min(epochs.values()) < 1:
    raise ValueError(f'The night is shorter than one {EPOCH_SECONDS}-s epoch: {epochs}.')
  x = reference_grid.in_joined_order(x, model.signals, prep.grid_epochs)
  return x, min(max(epochs.values()), prep.grid_epochs)


def _labels_for(model: model_lib.StagingModel, labels: np.ndarray | None) -> np.ndarray | None:
  """5-class scored labels -> the model's classes."""
  if labels is None:
    return None
  labels = np.asarray(labels)
  if model.config.num_classes == 4:
    return stages_lib.five_to_four(labels)
  return labels.astype(np.int8)


# --- API --------------------------------------------------------------------


def predict_signals(model: model_lib.StagingModel | str | os.PathLike[str],
                    signals: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                    *,
                    normalize: bool = True,
                    batch_size: int = 8,
                    preprocessing: str | prep_lib.Preprocessing | None = None,
                    max_hours: float | None = None) -> NightPrediction | list[NightPrediction]:
  """Stages one night, or a list of nights, from arrays.

  Args:
    model: a `StagingModel` or a checkpoint path for `load_model`.
    signals: one night as {signal name: samples} (1-D at the model's rate, e.g.
      1024 samples per 30 s for ECG) or {signal name: (samples, rate_hz)} at any
      rate (resampled here); or a list of such nights. A trailing partial epoch
      is dropped; NaN gaps are interpolated; an all-NaN signal is absent.
    normalize: z-score each signal over the night first (set False for
      inputs that are already normalised).
    batch_size: nights per forward pass.
    preprocessing: default the model's own (`run_preprocessing`). With `reference`
      the arrays are put on the reference's grid (linear interpolation, zero fill)
      and z-scored over it; arrays carry no units or physical range, so the
      reference's unit steps are the caller's: ECG and EOG in mV, PPG, ABD and THX
      scaled to [-1, 1] by their physical range.
    max_hours: `reference` grid length (default the model's, 10 h).

  Returns:
    A `NightPrediction` (a list of them for a list of nights), one row per epoch of
    the night (at most the grid's for `reference`).

  Raises:
    ValueError: unknown signals, nights shorter than one epoch, signals of
      different lengths, or no present signal.
  """
  model = _as_model(model)
  prep = run_preprocessing(model, preprocessing, max_hours)
  single = isinstance(signals, Mapping)
  nights = [signals] if single else list(signals)
  batcher = batching.Batcher(model, batch_size, max_pending=len(nights))
  logits, used, kept = {}, [], []
  for i, night in enumerate(nights):
    if prep.is_reference:
      x, night_epochs = _reference_grid_signals(model, night, prep)
      num_epochs = prep.grid_epochs
    else:
      x, num_epochs = _model_rate_signals(model, night)
      night_epochs = num_epochs
    if normalize:
      x, problems = checked_night(model, x, prep)
      if not x:
        raise ValueError(f'Night {i}: no usable signal ({_reasons(problems)}).')
    used.append(tuple(n for n in model.signals if n in x))
    kept.append(night_epochs)
    logits.update(batcher.add(i, x, num_epochs))
  logits.update(batcher.flush())
  for value in logits.values():
    if isinstance(value, Exception):
      raise value
  out = [
      NightPrediction(logits[i][:kept[i]], model.stage_names, signals=used[i])
      for i in range(len(nights))
  ]
  return out[0] if single else out


def _reasons(problems: Mapping[str, str]) -> str:
  return '; '.join(f'{n}: {r}' for n, r in problems.items())


def predict_night(model: model_lib.StagingModel,
                  night: night_lib.Night,
                  normalize: bool = True,
                  preprocessing: prep_lib.Preprocessing | None = None) -> NightPrediction:
  """Stages a night read by `input_files.read_input` (or `night.read_night`) with
  `preprocessing` (default the model's; the night must have been read with it).

  Raises:
    PsgError: no signal of the night can enter the model (`checked_night`).
  """
  x = night.signals
  if normalize:
    x, problems = checked_night(model, x, preprocessing)
    if not x:
      raise night_lib.unusable(
          night.kind, night.path, f'no usable signal ({_reasons(problems)})', stage='channel')
  logits_BSK = model.logits({n: v[None] for n, v in x.items()})
  return _night_prediction(model, night, logits_BSK[0, :night.night_epochs], tuple(x))


def _night_prediction(model: model_lib.StagingModel, night: night_lib.Night, logits_SK: np.ndarray,
                      used: Sequence[str]) -> NightPrediction:
  return NightPrediction(
      logits_SK,
      model.stage_names,
      labels_S=(None
                if night.labels is None else _labels_for(model, night.labels[:night.night_epochs])),
      start=night.start,
      name=night.name,
      signals=tuple(n for n in model.signals if n in used))


def predict_edf(model: model_lib.StagingModel | str | os.PathLike[str],
                path: str | os.PathLike[str],
                *,
                signals: Sequence[str] | None = None,
                channel_map: Mapping[str, Sequence[str]] | None = None,
                with_labels: bool = True,
                allow_truncated: bool = False,
                preprocessing: str | prep_lib.Preprocessing | None = None,
                max_hours: float | None = None) -> NightPrediction:
  """Stages one EDF (or CSV/parquet, see `psg.table_files`) night.

  Args:
    model: a `StagingModel` or a checkpoint path.
    path: the file.
    signals: subset of the model's signals to use (default: all it has).
    channel_map: canonical name -> EDF labels, e.g. {'ECG': ['EKG']}.
    with_labels: read scored stages from an annotation file next to the EDF
      (NSRR layout) for kappa and the hypnogram.
    allow_truncated: stage the complete records of a truncated EDF.
    preprocessing, max_hours: see `run_preprocessing` (default: the model's own).

  Raises:
    PsgError: the file cannot be staged (corrupt, too short, no usable signal).
  """
  model = _as_model(model)
  prep = run_preprocessing(model, preprocessing, max_hours)
  night = input_files.read_input(
      path, wanted_signals(model, signals),
      **read_options(
          prep,
          signals,
          channel_map=channel_map,
          with_labels=with_labels,
          allow_truncated=allow_truncated))
  return predict_night(model, night, preprocessing=prep)


# --- Folders ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunResult:
  """What `predict_files` did."""

  predicted: tuple[str, ...]
  skipped: tuple[str, ...]
  report: report_lib.SkipReport
  seconds: float

  @property
  def ok(self) -> bool:
    return bool(self.predicted)


def _prefetch(fn, items: Sequence[Any], workers: int) -> Iterator[Any]:
  """fn(item) for every item in order, computed by `workers` threads ahead."""
  if workers <= 0:
    yield from map(fn, items)
    return
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    queue = collections.deque()
    feed = iter(items)
    for item in itertools.islice(feed, 2 * workers):
      queue.append(pool.submit(fn, item))
    while queue:
      result = queue.popleft().result()
      for item in itertools.islice(feed, 1):
        queue.append(pool.submit(fn, item))
      yield result


def _relative(path: str, root: str) -> str:
  """`path` relative to `root` (reports name no local absolute paths)."""
  try:
    return pathlib.Path(os.path.relpath(path, root)).as_posix()
  except ValueError:
    return path


def find_run_inputs(input_path: str | os.PathLike[str], kinds: Sequence[str],
                    output_dir: str) -> tuple[list[tuple[str, str]], str]:
  """(input files as `find_inputs` lists them, the folder names are relative to).

  Raises:
    FileNotFoundError: `input_path` does not exist or holds no input file.
  """
  input_path = os.fspath(input_path)
  files = input_files.find_inputs(input_path, kinds, exclude=output_dir)
  if not files:
    raise FileNotFoundError(f'No {"/".join(kinds)} file found at {input_path}.')
  return files, input_path if os.path.isdir(input_path) else os.path.dirname(input_path)


def predict_files(model: model_lib.StagingModel | str | os.PathLike[str],
                  input_path: str | os.PathLike[str],
                  output_dir: str | os.PathLike[str],
                  *,
                  signals: Sequence[str] | None = None,
                  channel_map: Mapping[str, Sequence[str]] | None = None,
                  kinds: Sequence[str] = tuple(night_lib.EXTENSIONS.values()),
                  batch_size: int = 8,
                  formats: Sequence[str] = output_files.FORMATS,
                  run_info: Mapping[str, str] | None = None,
                  with_labels: bool = True,
                  allow_truncated: bool = False,
                  workers: int = 2,
                  bucket_hours: float = 1.0,
                  progress: bool = True,
                  preprocessing: str | prep_lib.Preprocessing | None = None,
                  max_hours: float | None = None) -> RunResult:
  """Stages every EDF/CSV/parquet night at or below `input_path`.

  Broken files are reported in `skipped.csv` and never stop the run. See the
  module docstring for the files written into `output_dir`.

  Args:
    model: a `StagingModel` or a checkpoint path.
    input_path: a file or a folder (searched recursively).
    output_dir: where outputs go (created).
    signals: subset of the model's signals to use (default: all).
    channel_map: canonical name -> labels/column names to use.
    kinds: input formats to look for ('edf', 'csv', 'parquet').
    batch_size: nights per forward pass.
    formats: output files (`output_files.FORMATS`: csv, tsv, edf, xml, png, html).
    run_info: lines for the report's header, e.g. {'model': path, 'command': ...}.
    with_labels: read scored stages next to EDFs (kappa, scored hypnograms).
    allow_truncated: stage the complete records of truncated EDFs.
    workers: reader threads (0: read in the main thread); outputs are written
      by one more thread, so reading, inference and writing overlap.
    bucket_hours: nights are zero-padded to the next multiple of this many hours
      and batched across lengths with exact padding (`batching.Batcher`); 0 runs
      every night at its own length (one compilation per length). Not used with
      `reference` preprocessing: every night runs on the reference's full grid.
    progress: show a progress bar.
    preprocessing, max_hours: see `run_preprocessing` (default: the model's own).

  Raises:
    FileNotFoundError: if `input_path` does not exist or holds no input file.
    NotADirectoryError, PermissionError: `output_dir` is not a writable folder
      (checked before the model is loaded).
  """
  import tqdm

  start_time = time.perf_counter()
  output_dir = output_paths.check_output_dir(output_dir)
  model = _as_model(model)
  prep = run_preprocessing(model, preprocessing, max_hours)
  files, root = find_run_inputs(input_path, kinds, output_dir)
  run = FilesRun(
      model, wanted_signals(model, signals), output_dir, root,
      read_options(
          prep,
          signals,
          channel_map=channel_map,
          with_labels=with_labels,
          allow_truncated=allow_truncated), output_files.RunOutputs(output_dir, formats))
  bucket_epochs = run_bucket_epochs(prep, bucket_hours)
  batcher = batching.Batcher(model, batch_size, bucket_epochs=bucket_epochs)
  run.bar = tqdm.tqdm(total=len(files), unit='night', desc='predict', disable=not progress)
  with concurrent.futures.ThreadPoolExecutor(1) as run.writer:
    for name, path, night, x in _prefetch(run.read, files, workers):
      if run.accept(name, path, night, x):
        run.finish(batcher.add(name, x, night.num_epochs))
    run.finish(batcher.flush())
  run.bar.close()
  run.write_run_files(run_info)
  return run.result(start_time)


def read_options(prep: prep_lib.Preprocessing, signals: Sequence[str] | None,
                 **options: Any) -> dict[str, Any]:
  """`input_files.read_input` options of a run. With `reference` preprocessing the grids
  are joined in the order the signals were asked for, as the reference's tool does."""
  join = tuple(signals) if prep.is_reference and signals else None
  return dict(options, preprocessing=prep, reference_join_order=join)


def run_bucket_epochs(prep: prep_lib.Preprocessing, bucket_hours: float) -> int:
  """Length buckets of a run (none with `reference` preprocessing: the grid is fixed)."""
  return 0 if prep.is_reference else batching.hours_to_epochs(bucket_hours)


class FilesRun:
  """State of one `predict_files` run: reading, skipping and writing each night (also
  used by the Beam pipeline and `benchmark predict`)."""

  def __init__(self, model: model_lib.StagingModel, wanted: Sequence[str], output_dir: str,
               root: str, read_options: Mapping[str, Any], outputs: output_files.RunOutputs):
    self.model, self.wanted, self.output_dir, self.root = model, wanted, output_dir, root
    self.preprocessing = read_options.get('preprocessing') or model.preprocessing
    self.read_options = {**read_options, 'preprocessing': self.preprocessing}
    self.outputs = outputs
    self.report = report_lib.SkipReport()
    self.nights: dict[str, tuple[night_lib.Night, tuple[str, ...]]] = {}
    self.summary: list[dict[str, Any]] = []
    self.skipped: list[str] = []
    self.bar = None
    self.writer: concurrent.futures.Executor | None = None  # Per-night outputs (None: inline).
    self.writes: list[concurrent.futures.Future] = []

  def read(self, item: tuple[str, str]):
    """(name, path, night without signals or the exception, checked signals)."""
    path, name = item
    try:
      night = input_files.read_input(path, self.wanted, name=name, **self.read_options)
      x, problems = checked_night(self.model, night.signals, self.preprocessing)
      if not x:
        raise night_lib.unusable(
            night.kind, path, f'no usable signal ({_reasons(problems)})', stage='channel')
      entries = night.entries + tuple(
          report_lib.SkipEntry(name, path, 'channel', f'{n}: {r}', report_lib.CHANNEL_ABSENT)
          for n, r in problems.items())
      # Keep one copy of the signals only.
      return name, path, dataclasses.replace(night, signals={}, entries=entries), x
    except Exception as e:  # pylint: disable=broad-except  # Reported, never fatal.
      return name, path, e, None

  def skip(self, name: str, path: str, stage: str, reason: str) -> None:
    self.report.add(name, _relative(path, self.root), stage, reason, report_lib.NIGHT_SKIPPED)
    self.skipped.append(name)

  def accept(self, name: str, path: str, night, x) -> bool:
    """Records a read night for batching (True), or reports why it is skipped (False)."""
    if isinstance(night, Exception):
      if isinstance(night, errors.PsgError):
        self.skip(name, night.path, night.stage, night.reason)
      else:  # An unexpected failure of a reader: still only this night is lost.
        self.skip(name, path, 'error', f'{type(night).__name__}: {night}')
      self.bar.update()
      return False
    self.report.extend(
        dataclasses.replace(e, path=_relative(e.path, self.root)) for e in night.entries)
    self.nights[name] = night, tuple(x)
    return True

  def finish(self, done: Iterable[tuple[str, np.ndarray | Exception]]) -> None:
    """Writes the outputs of staged nights (or skips those whose batch failed)."""
    for name, logits in done:
      night, used = self.nights.pop(name)
      if isinstance(logits, Exception):
        self.skip(name, night.path, 'model', f'{type(logits).__name__}: {logits}')
      else:
        prediction = _night_prediction(self.model, night, logits[:night.night_epochs], used)
        if self.writer is None:
          self.outputs.write(prediction)
        else:
          self.writes.append(self.writer.submit(self.outputs.write, prediction))
        row = {
            'night': name,
            'file': _relative(night.path, self.root),
            'format': night.kind,
            **prediction.summary_row()
        }
        if self.preprocessing.is_reference:
          row['hours_not_staged'] = night.epochs_left_out * EPOCH_SECONDS / 3600
        self.summary.append(row)
      self.bar.update()
      self.bar.set_postfix(ok=len(self.summary), skipped=len(self.skipped))

  def result(self, start_time: float) -> RunResult:
    """What the run did, `start_time` being its `time.perf_counter()` start."""
    return RunResult(
        tuple(row['night'] for row in self.summary), tuple(sorted(self.skipped)), self.report,
        time.perf_counter() - start_time)

  def write_run_files(self, run_info: Mapping[str, str] | None = None) -> None:
    """After every night: summary.csv, skipped.csv/.json (entries grouped by night, in
    night order, whatever order the nights finished in) and the report; a model from the
    Hub adds its `model_commit` (repo@commit) to all three, and skipped.json and the
    report name the preprocessing used."""
    for future in self.writes:
      future.result()  # A failed write fails the run, as an inline write would.
    self.summary.sort(key=lambda row: row['night'])
    self.report = report_lib.SkipReport(sorted(self.report.entries, key=lambda e: e.record_id))
    hub_model = getattr(self.model, 'hub', None)  # An hf:// model: record the commit used.
    commit = {'model_commit': hub_model.model_commit} if hub_model else {}
    output_files.write_summary([{
        **row,
        **commit
    } for row in self.summary], os.path.join(self.output_dir, SUMMARY_FILE))
    self.report.write(
        self.output_dir,
        SKIPPED_NAME,
        run_info={
            **commit, 'preprocessing': self.preprocessing.describe()
        })
    self.outputs.write_report(self.summary, self.report, self.model, {
        **(run_info or {}),
        **commit, 'preprocessing': self.preprocessing.describe()
    })
