"""TF-free dataset builds: in-process (`build`) and the `tfds build` CLI (`run_cli`).

`tfds build` imports TensorFlow at start; `run_cli` takes its build flags and
prepares each requested builder itself through TFDS's public builder API (the
builder class, `download_and_prepare(download_config=...)`, `splits_left_out`),
after checking that a builder's manual dir exists; `build` prepares one builder
(array_record files). Neither needs TensorFlow. `tfds_builders/build.py` is the
command.

Exit codes of `run_cli`: 0 built; 1 built, but a split was left out because
every one of its nights was skipped (summary on stderr; details in
skipped.csv); 2 bad input (one line `error: ...`, e.g. no nights found, or
every night skipped).
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import sys
from typing import Sequence

from absl import app
from absl import logging
import tensorflow_datasets as tfds

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.core import cli

# Exceptions that mean bad input (reported as one line, exit 2).
INPUT_ERRORS = (cli.InputError, FileNotFoundError, NotADirectoryError, PermissionError,
                nsrr_builder.NothingBuiltError)


def build(builder: nsrr_builder.NightsBuilder) -> tuple[str, ...]:
  """Prepares `builder` (reused if already built); returns the splits left out.

  The builder must write array_record (TF-free; our builders' default).
  """
  config = tfds.download.DownloadConfig(
      download_mode=tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS)
  builder.download_and_prepare(download_config=config)
  return tuple(builder.splits_left_out)


def resolve_argv(argv: Sequence[str], builders_dir: str) -> list[str]:
  """Maps bare builder names to their folders in `builders_dir`."""
  out = [argv[0]]
  for arg in argv[1:]:
    folder = os.path.join(builders_dir, arg)
    if (not arg.startswith('-') and os.sep not in arg
        and os.path.isfile(os.path.join(folder, f'{arg}_dataset_builder.py'))):
      arg = folder
    out.append(arg)
  return out


# `tfds build` flags this runner does not implement (flag -> value that means unset).
_UNSUPPORTED = {
    'download_only': False,
    'update_metadata_only': False,
    'imports': None,
    'register_checksums': False,
    'num_processes': 1,
    'publish_dir': None,
    'exclude_datasets': None,
    'experimental_latest_version': False
}


def _check_supported(args) -> None:
  groups = (args.generation, args.publishing, args.automation)
  for name, unset in _UNSUPPORTED.items():
    value = next(getattr(g, name) for g in groups if hasattr(g, name))
    if value != unset:
      raise cli.InputError(f'--{name} is not supported by this TF-free build; use `tfds build`.')


def _builder_class(dataset: str) -> tuple[type[tfds.core.DatasetBuilder], str | None]:
  """(builder class, config name or None) of a dataset folder or `name[/config]`."""
  folder = pathlib.Path(dataset).expanduser().resolve()
  if folder.is_dir():
    if not (folder / f'{folder.name}_dataset_builder.py').is_file():
      raise FileNotFoundError(f'{folder} has no {folder.name}_dataset_builder.py')
    parent = folder.parent
    package = (parent / '__init__.py').is_file()
    root = str(parent.parent if package else parent)
    if root not in sys.path:
      sys.path.insert(0, root)
    prefix = f'{parent.name}.' if package else ''
    module = importlib.import_module(f'{prefix}{folder.name}.{folder.name}_dataset_builder')
    return module.Builder, None
  name, _, config = dataset.partition('/')
  return tfds.builder_cls(name), config or None


def _configs(cls, config: str | None, generation) -> list:
  """The configs to build: from `name/config`, --config (name or JSON), --config_idx or all."""
  given = [c for c in (config, generation.config, generation.config_idx) if c is not None]
  if len(given) > 1:
    raise cli.InputError('Give the config once: `name/config`, --config or --config_idx.')
  if given and not cls.BUILDER_CONFIGS:
    raise cli.InputError(f'{cls.name} has no configs.')
  if not given:
    return [c.name for c in cls.BUILDER_CONFIGS] or [None]
  choice = given[0]
  if isinstance(choice, int):
    if choice >= len(cls.BUILDER_CONFIGS):
      raise cli.InputError(f'--config_idx {choice}: {cls.name} has '
                           f'{len(cls.BUILDER_CONFIGS)} configs.')
    return [cls.BUILDER_CONFIGS[choice].name]
  if not choice.startswith('{'):
    return [choice]
  try:
    return [cls.builder_config_cls(**json.loads(choice))]
  except (ValueError, TypeError) as e:
    raise cli.InputError(f'--config={choice}: {e}') from None


def _download_config(args, name: str) -> tfds.download.DownloadConfig:
  """The DownloadConfig of the flags (as `tfds build` makes it)."""
  generation, paths = args.generation, args.paths
  kwargs = json.loads(generation.download_config) if generation.download_config else {}
  mode = kwargs.pop('download_mode', 'reuse_dataset_if_exists')
  if args.debug.overwrite:
    mode = 'reuse_cache_if_exists'
  if generation.max_shard_size_mb:
    kwargs['max_shard_size'] = generation.max_shard_size_mb << 20
  if generation.num_shards:
    kwargs['num_shards'] = generation.num_shards
  if generation.beam_pipeline_options:
    from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
    kwargs['beam_options'] = pipeline_options.PipelineOptions(
        flags=[f'--{o}' for o in generation.beam_pipeline_options.split(',')])
  manual_dir = paths.manual_dir
  if manual_dir is not None and paths.add_name_to_manual_dir:
    manual_dir = manual_dir / name
  return tfds.download.DownloadConfig(
      extract_dir=paths.extract_dir,
      manual_dir=manual_dir,
      download_mode=tfds.download.GenerateMode(mode),
      max_examples_per_split=args.debug.max_examples_per_split,
      force_checksums_validation=generation.force_checksums_validation,
      nondeterministic_order=generation.nondeterministic_order,
      **kwargs)


def _check_manual_dir(builder, download_dir: pathlib.Path, manual_dir) -> None:
  """Raises InputError if `builder` needs a manual dir that is missing or empty."""
  if not builder.MANUAL_DOWNLOAD_INSTRUCTIONS or builder.is_prepared():
    return
  folder = pathlib.Path(manual_dir or download_dir / 'manual')
  if not folder.is_dir():
    raise cli.InputError(f'Manual directory {folder} does not exist (--manual_dir: '
                         f'{builder.name}\'s download instructions are in its README).')
  if not any(folder.iterdir()):
    raise cli.InputError(f'Manual directory {folder} is empty.')


def _prepare(cls, config, args) -> str | None:
  """Builds one config of `cls` as the flags say; names the splits left out, if any."""
  kwargs = {'config': config, 'data_dir': str(args.paths.data_dir)}
  if args.generation.file_format:
    kwargs['file_format'] = args.generation.file_format
  builder = cls(**kwargs)
  if builder.is_prepared() and args.debug.fail_if_exists:
    raise cli.InputError(f'{builder.data_path} exists (--fail_if_exists).')
  if builder.is_prepared() and args.debug.overwrite:
    builder.data_path.rmtree()
    builder = cls(**kwargs)
  download_config = _download_config(args, builder.name)
  download_dir = pathlib.Path(
      args.paths.download_dir or pathlib.Path(args.paths.data_dir).expanduser() / 'downloads')
  _check_manual_dir(builder, download_dir, download_config.manual_dir)
  builder.download_and_prepare(download_dir=str(download_dir), download_config=download_config)
  logging.info('Built %s in %s.', builder.info.full_name, builder.data_dir)
  splits = getattr(builder, 'splits_left_out', ())
  if not splits:
    return None
  config_name = getattr(builder.builder_config, 'name', 'default')
  return (f'{builder.name}/{config_name}: {", ".join(splits)} '
          f'(in {builder.data_dir})')


def execute(args) -> int:
  """Builds the datasets of parsed `tfds build` args; returns the exit code."""
  left_out = []
  try:
    _check_supported(args)
    for dataset in (args.positional_datasets + args.datasets) or ['']:
      cls, config_name = _builder_class(dataset)
      for config in _configs(cls, config_name, args.generation):
        left_out += filter(None, [_prepare(cls, config, args)])
  except INPUT_ERRORS as e:
    cli.fail(e)
  if left_out:
    print(
        'Built, but these splits were left out because every night was skipped '
        f'(see skipped.csv): {"; ".join(left_out)}',
        file=sys.stderr)
    return cli.EXIT_PARTIAL
  return 0


def run_cli(argv: Sequence[str], builders_dir: str) -> None:
  """`tfds build` with the flags of `argv` (bare names resolved in `builders_dir`)."""
  from tensorflow_datasets.scripts.cli import build as build_cli  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.scripts.cli import cli_utils  # pylint: disable=g-import-not-at-top
  parser = cli_utils.make_flags_parser(
      build_cli.Args, description='Builds a wav2sleep dataset (TF-free).')
  app.run(execute, argv=resolve_argv(argv, builders_dir), flags_parser=parser)
