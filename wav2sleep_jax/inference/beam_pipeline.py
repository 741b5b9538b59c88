"""`predict_files` as an Apache Beam pipeline (Dataflow, Spark, Flink or local).

  python -m wav2sleep_jax.predict --model=CKPT --input=EDFS --output=OUT \
      --beam_pipeline_options=runner=FnApiRunner,direct_running_mode=multi_processing

The input files are listed here, spread over workers, and each worker loads
the model once (`DoFn.setup`), reads, checks and normalises its nights, stages
them in length buckets (`batching.Batcher`, exact padding) and writes their
per-night files. The workers' summary rows, skip entries and report figures
come back to this process, which writes summary.csv, skipped.csv/.json and the
report exactly as the local run does. `output_dir` must be a folder every
worker can write (a local folder for local runners; a shared mount on a
cluster, see launch/README.md).
"""

from __future__ import annotations

import os
import pickle
import time
import uuid
from typing import Any, Mapping, Sequence

import apache_beam as beam
from apache_beam.options import pipeline_options
from apache_beam.transforms import window
from apache_beam.utils import windowed_value

from wav2sleep_jax.core import output_paths
from wav2sleep_jax.inference import batching
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import output_files
from wav2sleep_jax.inference import runner
from wav2sleep_jax.psg import night as night_lib


def parse_options(text: str | Sequence[str]) -> pipeline_options.PipelineOptions:
  """'runner=X,key=value,...' (or a list of such) -> PipelineOptions (--key=value flags)."""
  items = text.split(',') if isinstance(text, str) else list(text)
  args = [item.strip() for item in items if item.strip()]
  bad = [a for a in args if '=' not in a or a.startswith('=')]
  if bad:
    raise ValueError(f'beam_pipeline_options: expected key=value items, got {bad}.')
  return pipeline_options.PipelineOptions(flags=[f'--{a.lstrip("-")}' for a in args])


class _NoBar:
  """Stands in for the progress bar on workers."""

  def update(self, *args):
    del args

  def set_postfix(self, **kwargs):
    del kwargs


class _StageNights(beam.DoFn):
  """(path, name) -> staged nights' files; yields ('row'|'entry'|'figure', value)."""

  def __init__(self, model_path: str, dtype: str | None, run_args: Mapping[str, Any],
               batch_size: int, bucket_epochs: int):
    self._model_path, self._dtype, self._run_args = model_path, dtype, dict(run_args)
    self._batch_size, self._bucket_epochs = batch_size, bucket_epochs
    self._model = self._run = self._batcher = None

  def setup(self):
    self._model = model_lib.load_model(self._model_path, dtype=self._dtype)
    # One Batcher per worker: it remembers the batch sizes compiled (flushed every bundle).
    self._batcher = batching.Batcher(
        self._model, self._batch_size, bucket_epochs=self._bucket_epochs)

  def start_bundle(self):
    # The local run's reader and writer, shared.
    args = self._run_args
    self._run = runner.FilesRun(self._model, runner.wanted_signals(self._model, args['signals']),
                                args['output_dir'], args['root'], args['read_options'],
                                output_files.RunOutputs(args['output_dir'], args['formats']))
    self._run.bar = _NoBar()

  def process(self, item: tuple[str, str]):
    name, path, night, x = self._run.read(tuple(item))
    if self._run.accept(name, path, night, x):
      self._run.finish(self._batcher.add(name, x, night.num_epochs))
    yield from self._drain()

  def finish_bundle(self):
    self._run.finish(self._batcher.flush())
    for value in self._drain():
      yield windowed_value.WindowedValue(value,
                                         window.GlobalWindow().max_timestamp(),
                                         [window.GlobalWindow()])

  def _drain(self) -> list[tuple[str, Any]]:
    """What finished since the last call: summary rows, skip entries, figures."""
    run = self._run
    out = [('row', row) for row in run.summary] + [('entry', e) for e in run.report.entries]
    out += [('skipped', name) for name in run.skipped]
    out += [('figure', item) for item in run.outputs.figures.items()]
    run.summary, run.skipped, run.outputs.figures = [], [], {}
    run.report = type(run.report)()
    return out


def _save(results: list, path: str) -> None:
  with open(path, 'wb') as f:
    pickle.dump(results, f)


def predict_files_beam(model_path: str | os.PathLike[str],
                       input_path: str | os.PathLike[str],
                       output_dir: str | os.PathLike[str],
                       options: str | Sequence[str],
                       *,
                       dtype: str | None = None,
                       signals: Sequence[str] | None = None,
                       channel_map: Mapping[str, Sequence[str]] | None = None,
                       kinds: Sequence[str] = tuple(night_lib.EXTENSIONS.values()),
                       batch_size: int = 8,
                       formats: Sequence[str] = output_files.FORMATS,
                       run_info: Mapping[str, str] | None = None,
                       with_labels: bool = True,
                       allow_truncated: bool = False,
                       bucket_hours: float = 1.0,
                       preprocessing: str | None = None,
                       max_hours: float | None = None) -> runner.RunResult:
  """`runner.predict_files` on Beam; `options` as `parse_options` takes them.

  The model is a checkpoint path (each worker loads it); other arguments as
  `predict_files`. Outputs and the skip report equal the local run's.
  """
  start_time = time.perf_counter()
  beam_options = parse_options(options)
  output_dir = output_paths.check_output_dir(output_dir)
  model = model_lib.load_model(model_path, dtype=dtype)  # Checks the path and signals here.
  runner.wanted_signals(model, signals)
  prep = runner.run_preprocessing(model, preprocessing, max_hours)
  files, root = runner.find_run_inputs(input_path, kinds, output_dir)
  run_args = dict(
      signals=signals,
      output_dir=output_dir,
      root=root,
      formats=formats,
      read_options=runner.read_options(
          prep,
          signals,
          channel_map=channel_map,
          with_labels=with_labels,
          allow_truncated=allow_truncated))
  results_path = os.path.join(output_dir, f'.predict-beam-{uuid.uuid4().hex}.pkl')
  bucket_epochs = runner.run_bucket_epochs(prep, bucket_hours)
  stage = _StageNights(os.fspath(model_path), dtype, run_args, batch_size, bucket_epochs)
  with beam.Pipeline(options=beam_options) as p:
    _ = (
        p
        | 'ListNights' >> beam.Create([list(f) for f in files])
        | 'Spread' >> beam.Reshuffle()
        | 'Stage' >> beam.ParDo(stage)
        | 'Collect' >> beam.combiners.ToList()
        | 'Save' >> beam.Map(_save, results_path))
  with open(results_path, 'rb') as f:
    results = pickle.load(f)
  os.remove(results_path)
  return _write_run(model, root, output_dir, run_args, results, run_info, start_time)


def _write_run(model, root, output_dir, run_args, results, run_info,
               start_time) -> runner.RunResult:
  """The run files from the workers' results, as `predict_files` writes them."""
  run = runner.FilesRun(model, (), output_dir, root, run_args['read_options'],
                        output_files.RunOutputs(output_dir, run_args['formats']))
  for kind, value in results:
    if kind == 'row':
      run.summary.append(value)
    elif kind == 'entry':
      run.report.extend([value])
    elif kind == 'skipped':
      run.skipped.append(value)
    else:
      run.outputs.figures[value[0]] = value[1]
  run.write_run_files(run_info)
  return run.result(start_time)
