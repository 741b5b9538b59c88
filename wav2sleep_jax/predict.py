r"""Stages every night in a file or folder (EDF, WFDB .hea records, CSV, parquet).

  python -m wav2sleep_jax.predict --model=CHECKPOINT --input=EDF_FILE_OR_FOLDER --output=DIR \
      [--signals=ECG,THX] [--channels=ECG=EKG,THX=Thor] [--batch_size=8] \
      [--formats=csv,tsv,edf,xml,png,html]

--model is a wav2sleep_jax checkpoint, a reference folder (config.yaml +
state_dict.pth) or a Hub model hf://namespace/name[@revision] (downloaded into the
Hugging Face cache; its commit is recorded as model_commit in summary.csv, skipped.json
and index.html). Writes per night the files of --formats (csv: <name>.preds.csv,
tsv: <name>_hypnogram.tsv + .json, edf: <name>.annotations.edf, xml: <name>.nsrr.xml,
png: <name>.hypnogram.png), the report index.html (html), and always summary.csv and
skipped.csv/.json (see `wav2sleep_jax.inference.output_files`). Exits 0
if every night was staged, 1 if any was skipped (a summary says how many), 2 on
a usage or input error (one line on stderr; --output is checked first).

Each model runs on the preprocessing its weights were trained with (recorded with
it; --preprocessing overrides, with a warning). Ours: nights are padded to length
buckets (--bucket_hours, default 1 h) and batched across lengths with exact
padding: a night's predictions equal those of the night alone. `reference` (the
authors' models): every night on the reference's --max_hours grid (default 10 h),
as the reference's own predict_on_folder runs it; output rows are the night's
whole epochs. --beam_pipeline_options=runner=...,key=value runs the same reading
and bucketed inference as an Apache Beam pipeline (`inference.beam_pipeline`;
Dataflow, Spark and Flink runs in launch/README_predict.md).

The library lives in `wav2sleep_jax.inference.runner`.
"""

from __future__ import annotations

import shlex
import sys

from absl import flags
from absl import logging

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import output_paths
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import output_files
from wav2sleep_jax.inference import runner
from wav2sleep_jax.psg import input_files


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_string(
      'model',
      None, 'wav2sleep_jax checkpoint, reference folder '
      '(config.yaml + state_dict.pth), or Hub model '
      'hf://namespace/name[@revision].',
      required=True)
  flags.DEFINE_string(
      'input',
      None, 'EDF (.edf/.rec), WFDB record (.hea), CSV or parquet file, or a folder '
      'searched recursively.',
      required=True)
  flags.DEFINE_string('output', None, 'Output folder.', required=True)
  flags.DEFINE_list('signals', None, "Subset of the model's signals (default: all).")
  flags.DEFINE_list(
      'channels', None, 'SIGNAL=LABEL mappings, e.g. ECG=EKG,THX=Thor (repeat a signal for '
      'alternatives); a mapped signal is looked up only under its labels.')
  flags.DEFINE_list('input_formats', 'edf,wfdb,csv,parquet',
                    'Input formats to look for (edf: .edf/.rec; wfdb: .hea records).')
  flags.DEFINE_integer('batch_size', 8, 'Nights per forward pass.', lower_bound=1)
  flags.DEFINE_list(
      'formats', ','.join(output_files.FORMATS),
      'Output files: csv (per-epoch table), tsv (BIDS-style + JSON sidecar), '
      'edf (EDF+ annotations), xml (NSRR XML), png (hypnogram), html '
      '(index.html report); summary.csv and skipped.csv are always written.')
  flags.DEFINE_bool(
      'labels', True, 'Read scored stages beside each input (NSRR layouts; slpdb .st, '
      'CinC .arousal, HMC _sleepscoring.edf, UCDDB _stage.txt).')
  flags.DEFINE_bool('allow_truncated', False, 'Stage the complete records of truncated EDFs.')
  flags.DEFINE_integer('workers', 2, 'Reader threads (0: none).', lower_bound=0)
  flags.DEFINE_enum('dtype', None, ['float32', 'bfloat16'], 'Compute dtype override.')
  flags.DEFINE_float(
      'bucket_hours',
      1.0, 'Pad nights to multiples of this many hours and '
      'batch them across lengths, exactly (0: every night at its own '
      'length, one compilation per length).',
      lower_bound=0)
  flags.DEFINE_enum(
      'preprocessing', None, list(prep_lib.NAMES),
      "How nights are prepared (default: the model's own, recorded with it; "
      'reference checkpoints and hf:// models of the authors: reference). '
      'Another one is warned about: the weights were not trained on it.')
  flags.DEFINE_float(
      'max_hours',
      None, 'Grid length of reference preprocessing (the '
      "reference's max_length_hours; default the model's, 10): a longer night's "
      'tail is not staged and is reported; e.g. 14 for long nights.',
      lower_bound=0.5)
  flags.DEFINE_string(
      'beam_pipeline_options', None, 'Run as an Apache Beam pipeline with '
      'these options, e.g. runner=FnApiRunner,direct_running_mode='
      'multi_processing,direct_num_workers=4 (see launch/README_predict.md).')


def main(argv):
  del argv  # cli.run refuses positional arguments.
  cli.quiet_orbax()
  logging.set_verbosity(logging.WARNING)  # Progress bars and results, not INFO logs.
  fl = flags.FLAGS
  try:
    channel_map = input_files.parse_channel_map(fl.channels or [])
    input_files.find_inputs(fl.input, fl.input_formats)  # Unknown formats, missing input.
    formats = output_files.check_formats(fl.formats)
    output_paths.check_output_dir(fl.output)  # Before the model and any inference.
    options = dict(
        signals=fl.signals,
        channel_map=channel_map,
        kinds=fl.input_formats,
        batch_size=fl.batch_size,
        with_labels=fl.labels,
        allow_truncated=fl.allow_truncated,
        formats=formats,
        bucket_hours=fl.bucket_hours,
        preprocessing=fl.preprocessing,
        max_hours=fl.max_hours,
        run_info={
            'model path':
                fl.model,
            'command':
                ' '.join(['python -m wav2sleep_jax.predict'] +
                         [shlex.quote(a) for a in sys.argv[1:]])
        })
    if fl.beam_pipeline_options:
      result = _predict_on_beam(fl, options)
    else:
      model = model_lib.load_model(fl.model, dtype=fl.dtype)
      result = runner.predict_files(model, fl.input, fl.output, workers=fl.workers, **options)
  except ValueError as e:  # Channel map, formats, signals the model lacks.
    raise cli.InputError(e) from e
  n, s = len(result.predicted), len(result.skipped)
  print(f'Staged {n} night(s), skipped {s}, in {result.seconds:.1f} s '
        f'({n / max(result.seconds, 1e-9):.2f} nights/s); outputs in {fl.output}' +
        (f'; see {runner.SKIPPED_NAME}.csv' if len(result.report) else ''))
  return cli.EXIT_PARTIAL if s or not n else 0


def _predict_on_beam(fl, options):
  """The run as a Beam pipeline (apache_beam is an optional extra)."""
  try:
    from wav2sleep_jax.inference import beam_pipeline  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise cli.InputError(f'--beam_pipeline_options needs apache_beam ({e}); '
                         "pip install 'wav2sleep_jax[beam]'.") from e
  return beam_pipeline.predict_files_beam(
      fl.model, fl.input, fl.output, fl.beam_pipeline_options, dtype=fl.dtype, **options)


def run():
  """Console script `wav2sleep-predict`."""
  define_flags()
  cli.run(main)


if __name__ == '__main__':
  run()
