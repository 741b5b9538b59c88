"""TF-free dataset builds: in-process (`build`) and the `tfds build` CLI (`run_cli`).

`tfds build` imports TensorFlow at start; `run_cli` runs only its build
subcommand, and `build` prepares one builder directly (array_record files),
so neither needs TensorFlow. `tfds_builders/build.py` is the command.

Exit codes of `run_cli`: 0 built; 1 built, but a split was left out because
every one of its nights was skipped (summary on stderr; details in
skipped.csv); 2 bad input (one line `error: ...`, e.g. no nights found, or
every night skipped).
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from absl import app
import tensorflow_datasets as tfds

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.core import cli

# Exceptions that mean bad input (reported as one line, exit 2).
INPUT_ERRORS = (cli.InputError, FileNotFoundError, NotADirectoryError, PermissionError,
                nsrr_builder.NothingBuiltError)


def build(builder: nsrr_builder.NightsBuilder) -> tuple[str, ...]:
  """Prepares `builder` (reused if already built); returns the splits left out.

  The builder must be made with `file_format='array_record'` (TF-free).
  """
  config = tfds.download.DownloadConfig(
      download_mode=tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS)
  builder.download_and_prepare(download_config=config)
  return tuple(builder.splits_left_out)


def resolve_argv(argv: Sequence[str], builders_dir: str) -> list[str]:
  """Maps bare builder names to their folders in `builders_dir`; array_record default."""
  out = [argv[0]]
  for arg in argv[1:]:
    folder = os.path.join(builders_dir, arg)
    if (not arg.startswith('-') and os.sep not in arg and
        os.path.isfile(os.path.join(folder, f'{arg}_dataset_builder.py'))):
      arg = folder
    out.append(arg)
  if not any(a.startswith('--file_format') for a in out):
    out.append('--file_format=array_record')
  return out


def execute(args) -> int:
  """Builds the datasets of parsed `tfds build` args; returns the exit code."""
  from tensorflow_datasets.scripts.cli import build as build_cli  # pylint: disable=g-import-not-at-top
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
  except INPUT_ERRORS as e:
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


def run_cli(argv: Sequence[str], builders_dir: str) -> None:
  """`tfds build` with the flags of `argv` (bare names resolved in `builders_dir`)."""
  from tensorflow_datasets.scripts.cli import build as build_cli  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.scripts.cli import cli_utils  # pylint: disable=g-import-not-at-top
  parser = cli_utils.make_flags_parser(
      build_cli.Args, description='Builds a wav2sleep dataset (TF-free).')
  app.run(execute, argv=resolve_argv(argv, builders_dir), flags_parser=parser)
