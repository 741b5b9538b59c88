r"""`tfds build` without TensorFlow, for the builders in this folder.

  python -m tfds_builders.build shhs --manual_dir=/data/nsrr/shhs \
      --data_dir=~/tensorflow_datasets [--config='{"name": "x", ...}'] \
      [--beam_pipeline_options=runner=FnApiRunner,direct_running_mode=multi_processing,direct_num_workers=8]

Same flags as `tfds build` (the `tfds` command imports TensorFlow at start;
this runs only its build subcommand). A bare dataset name resolves to
`tfds_builders/<name>/`; `--file_format` defaults to array_record.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from absl import app
from tensorflow_datasets.scripts.cli import build as build_cli
from tensorflow_datasets.scripts.cli import cli_utils

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


def main(argv: Sequence[str] | None = None) -> None:
  parser = cli_utils.make_flags_parser(
      build_cli.Args, description='Builds a wav2sleep dataset (TF-free).')
  app.run(lambda args: args.execute(),
          argv=resolve_argv(sys.argv if argv is None else argv),
          flags_parser=parser)


if __name__ == '__main__':
  main()
