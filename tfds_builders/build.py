r"""`tfds build` without TensorFlow, for the builders in this folder.

  python -m tfds_builders.build shhs --manual_dir=/data/nsrr/shhs \
      --data_dir=~/tensorflow_datasets [--config='{"name": "x", ...}'] \
      [--beam_pipeline_options=runner=FnApiRunner,direct_running_mode=multi_processing,direct_num_workers=8]

Same flags as `tfds build` (the `tfds` command imports TensorFlow at start;
this runs only its build subcommand). A bare dataset name resolves to
`tfds_builders/<name>/`; `--file_format` defaults to array_record.

Exit codes: 0 built; 1 built, but a split was left out because every one of
its nights was skipped (summary on stderr; details in skipped.csv); 2 bad
input (one line `error: ...`, e.g. no nights found, or every night skipped).
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from absl import app
from tensorflow_datasets.scripts.cli import build as build_cli
from tensorflow_datasets.scripts.cli import cli_utils

from tfds_builders import nsrr_builder
from wav2sleep_jax.core import cli

_HERE = os.path.dirname(os.path.abspath(__file__))


def resolve_argv(argv: Sequence[str]) -> list[str]:
  """Maps bare builder names to their folders; defaults to array_record."""
  out = [argv[0]]
  for arg in argv[1:]:
    folder = os.path.join(_HERE, arg)
    if (not arg.startswith('-') and os.sep not in arg and
        os.path.isfile(os.path.join(folder, f'{arg}_dataset_builder.py'))):
      arg = folder
    out.append(arg)
  if not any(a.startswith('--file_format') for a in out):
    out.append('--file_format=array_record')
  return out


# Exceptions that mean bad input (reported as one line, exit 2).
_INPUT_ERRORS = (cli.InputError, FileNotFoundError, NotADirectoryError, PermissionError,
                 nsrr_builder.NothingBuiltError)


def execute(args) -> int:
  """Builds the datasets of `args`; returns the exit code (see module doc)."""
  left_out = []
  original = build_cli._download_and_prepare  # pylint: disable=protected-access

  def prepare_and_check(cli_args, builder):
    original(cli_args, builder)
    if getattr(builder, 'splits_left_out', ()):
      left_out.append(f'{builder.name}/{builder.builder_config.name}: '
                      f'{", ".join(builder.splits_left_out)} (in {builder.data_dir})')

  build_cli._download_and_prepare = prepare_and_check  # pylint: disable=protected-access
  try:
    args.execute()
  except _INPUT_ERRORS as e:
    cli.fail(e)
  except AssertionError as e:  # TFDS's way to say that --manual_dir is missing or empty.
    if str(e).startswith('Manual directory'):
      cli.fail(e)
    raise
  finally:
    build_cli._download_and_prepare = original  # pylint: disable=protected-access
  if left_out:
    print('Built, but these splits were left out because every night was skipped '
          f'(see skipped.csv): {"; ".join(left_out)}', file=sys.stderr)
    return cli.EXIT_PARTIAL
  return 0


def main(argv: Sequence[str] | None = None) -> None:
  parser = cli_utils.make_flags_parser(
      build_cli.Args, description='Builds a wav2sleep dataset (TF-free).')
  app.run(execute, argv=resolve_argv(sys.argv if argv is None else argv),
          flags_parser=parser)


if __name__ == '__main__':
  main()
