"""Publishing a model on the Hugging Face Hub, with a model card.

  commit = publishing.push('runs/shhs', 'me/wav2sleep-shhs', reference_format=True)
  wav2sleep_jax.load_model('hf://me/wav2sleep-shhs')   # the model just pushed

`push` takes a training run's WORKDIR (its `model/` and the test table of its
`metrics.json`) or a model folder of ours, and commits to the repo (created if
missing) the model's files (model_config.json, params/, preprocessing.json), a
README.md model card and, with `reference_format`, the same weights as the
reference's config.yaml + state_dict.pth. Model files of an earlier push that this
one lacks are deleted in the same commit, so the repo holds one model. Everything
is staged and checked before the first request: a setting the reference cannot
express is refused by name with nothing uploaded. The token is huggingface_hub's
(HF_TOKEN or `hf auth login`); Hub failures are one-line `cli.InputError`s.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import tempfile
from typing import Any, Mapping

import yaml

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import run_dir
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.core import stages
from wav2sleep_jax.evaluation import tables
from wav2sleep_jax.models import hub_client as hub
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import reference
from wav2sleep_jax.models import reference_export
from wav2sleep_jax.models.config import ModelConfig

CARD_FILE = 'README.md'
METRICS_FILE = run_dir.METRICS_FILE
RUN_MODEL_DIR = run_dir.MODEL_DIR
TAGS = ('sleep-staging', 'polysomnography', 'wav2sleep', 'jax', 'flax')
# The Hub has no time-series classification pipeline type (only time-series-forecasting,
# which this is not), so the card says 'other'.
PIPELINE_TAG = 'other'
_LOGIN = 'set HF_TOKEN or run `hf auth login`'


def locate(run_or_model: str | pathlib.Path) -> tuple[pathlib.Path, pathlib.Path | None]:
  """(model folder, metrics.json or None) of a run WORKDIR or a model folder of ours.

  A model folder named `model` beside a metrics.json is its run's exported model.
  """
  path = pathlib.Path(run_or_model)
  if model_io.is_model_checkpoint(path):
    model_dir = path
    metrics = path.parent / METRICS_FILE if path.name == RUN_MODEL_DIR else None
  elif model_io.is_model_checkpoint(path / RUN_MODEL_DIR):
    model_dir, metrics = path / RUN_MODEL_DIR, path / METRICS_FILE
  elif not path.exists():
    raise FileNotFoundError(f'{path} does not exist.')
  elif reference.is_reference_checkpoint(path):
    raise cli.InputError(f'{path} is a reference checkpoint: convert it with wav2sleep-convert '
                         'and push the wav2sleep_jax model folder.')
  else:
    raise cli.InputError(
        f'{path} is neither a training run (WORKDIR with {RUN_MODEL_DIR}/{model_io.CONFIG_FILE}) '
        f'nor a wav2sleep_jax model folder ({model_io.CONFIG_FILE} + {model_io.PARAMS_DIR}/).')
  return model_dir, (metrics if metrics is not None and metrics.is_file() else None)


def read_test_table(metrics: pathlib.Path | None) -> dict | None:
  """The 'test' table {dataset: {subset: summary}} of a run's metrics.json (None: none)."""
  if metrics is None:
    return None
  try:
    table = json.loads(metrics.read_text()).get('test')
  except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
    raise cli.InputError(f'{metrics}: not a metrics file ({e}).') from None
  if table is None:
    return None
  ok = isinstance(table, dict) and all(
      isinstance(subsets, dict) and all(
          isinstance(s, dict) and {'kappa', 'nights'} <= set(s)
          for s in subsets.values())
      for subsets in table.values())
  if not ok:
    raise cli.InputError(f"{metrics}: 'test' is not a {{dataset: {{subset: {{'kappa', "
                         "'nights', ...}}}} table.")
  return table


def _tested_datasets(test_table: Mapping | None) -> list[str]:
  return [
      d for d, subsets in (test_table or {}).items() if any(
          s.get('nights') for s in subsets.values())
  ]


def _front_matter(test_table: Mapping | None) -> str:
  meta: dict[str, Any] = {
      'license': 'mit',
      'library_name': 'wav2sleep_jax',
      'tags': list(TAGS),
      'pipeline_tag': PIPELINE_TAG
  }
  datasets = _tested_datasets(test_table)
  if datasets:
    meta['datasets'] = datasets
  return f'---\n{yaml.safe_dump(meta, sort_keys=False)}---\n'


def _signals_section(cfg: ModelConfig) -> list[str]:
  lines = [
      '## Signals', '',
      'A night may have any subset of these signals; each is resampled to a fixed number '
      'of samples per 30-s epoch.', '', '| signal | samples per 30-s epoch | sample rate (Hz) |',
      '|---|---|---|'
  ]
  for name in cfg.signals:
    lines.append(f'| {name} | {signals_lib.samples_per_epoch(name)} | '
                 f'{signals_lib.sample_rate_hz(name):.2f} |')
  return lines + ['']


def _preprocessing_meaning(prep: prep_lib.Preprocessing) -> str:
  if prep.is_reference:
    return ("the reference's (joncarter1/wav2sleep) pipeline: its channel table and unit "
            f'conversion, linear interpolation onto a fixed {prep.max_hours:g}-h grid, z-scored '
            "over the whole grid; a longer night's tail is left out.")
  return ('anti-aliased polyphase resampling onto the epoch grid and a z-score over the night '
          'itself (an EMA normaliser for causal models); nights run at their own length and '
          'are never cropped.')


def _usage_section(repo_id: str, prep: prep_lib.Preprocessing, reference_format: bool) -> list[str]:
  uri = f'{hub.PREFIX}{repo_id}'
  lines = [
      '## Use', '', 'With wav2sleep_jax (add `@revision` for a branch, tag or commit):', '',
      '```python', 'import wav2sleep_jax', f"model = wav2sleep_jax.load_model('{uri}')", '```', '',
      '```bash', f'python -m wav2sleep_jax.predict --model={uri} --input=NIGHT.edf '
      '--output=OUT', '```', ''
  ]
  if reference_format:
    lines += [
        "With the reference's own code (reads `config.yaml` + `state_dict.pth`):", '', '```python',
        'from wav2sleep import load_model', f"model = load_model('{uri}')", '```', ''
    ]
    if not prep.is_reference:
      lines += [
          "The reference prepares nights with its own pipeline, not the "
          f'`{prep.describe()}` preprocessing these weights were trained with.', ''
      ]
  return lines


def model_card(cfg: ModelConfig,
               preprocessing: prep_lib.Preprocessing,
               test_table: Mapping | None,
               repo_id: str,
               source: str,
               reference_format: bool = False) -> str:
  """README.md of a pushed model: Hub metadata, signals, classes, preprocessing, test kappa
  (when `test_table` is given), and how to load it."""
  names = stages.stage_names(cfg.num_classes)
  formats = "wav2sleep_jax's format (`model_config.json` + `params/`)" + (
      ", and the same weights in the reference's (`config.yaml` + `state_dict.pth`)"
      if reference_format else '')
  parts = [
      _front_matter(test_table), f'# {repo_id}', '',
      f'A [wav2sleep](https://github.com/joncarter1/wav2sleep) sleep-staging model: one of '
      f'{cfg.num_classes} stages for every 30-s epoch of a night. Files: {formats}. '
      f'Source: {source}.', ''
  ]
  parts += _signals_section(cfg)
  parts += [
      '## Classes', '', ', '.join(f'{i} {n}' for i, n in enumerate(names)) + '.', '',
      '## Preprocessing', '', f'`{preprocessing.describe()}`: '
      f'{_preprocessing_meaning(preprocessing)} wav2sleep_jax reads it from '
      '`preprocessing.json` and prepares nights this way unless told otherwise.', ''
  ]
  if test_table:
    parts += [
        '## Test results', '', "Total Cohen's kappa on the test split (n = nights that "
        'have the inputs):', '',
        tables.kappa_table(test_table), ''
    ]
  parts += _usage_section(repo_id, preprocessing, reference_format)
  return '\n'.join(parts)


def _check_repo_id(repo_id: str) -> None:
  try:
    _, revision = hub.parse_hub_uri(f'{hub.PREFIX}{repo_id}')
  except cli.InputError:
    revision = ''
  if revision is not None:
    raise cli.InputError(f'{repo_id!r} is not a Hub repo: expected namespace/name.')


def stage(model_dir: pathlib.Path,
          metrics: pathlib.Path | None,
          repo_id: str,
          folder: pathlib.Path,
          reference_format: bool = False) -> None:
  """Writes into `folder` everything a push uploads; refuses (by name) what it cannot write."""
  cfg, params = model_io.load_model_checkpoint(model_dir)  # Loads: no broken model goes up.
  prep = prep_lib.load(model_dir)
  table = read_test_table(metrics)
  if reference_format:
    reference_export.write_reference(folder, cfg, params)
  (folder / model_io.CONFIG_FILE).write_bytes((model_dir / model_io.CONFIG_FILE).read_bytes())
  shutil.copytree(model_dir / model_io.PARAMS_DIR, folder / model_io.PARAMS_DIR)
  prep_lib.save(folder, prep)
  source = (f'training run `{metrics.parent.name}`'
            if metrics is not None else f'model folder `{model_dir.name}`')
  (folder / CARD_FILE).write_text(model_card(cfg, prep, table, repo_id, source, reference_format))


def push(run_or_model: str | pathlib.Path,
         repo_id: str,
         *,
         reference_format: bool = False,
         private: bool = False,
         revision: str | None = None,
         commit_message: str | None = None) -> str:
  """Pushes a run's model (or a model folder) to the Hub repo `repo_id`; returns the commit.

  Args:
    run_or_model: a training run WORKDIR (model/ + metrics.json) or a model folder of ours.
    repo_id: 'namespace/name'; created (public unless `private`) when missing.
    reference_format: also upload config.yaml + state_dict.pth for the reference's loader.
    private: create the repo private (an existing repo keeps its visibility).
    revision: branch to commit to (created from the default branch when missing).
    commit_message: default: 'Upload wav2sleep_jax model'.

  Raises:
    FileNotFoundError, cli.InputError: not a run or model folder, a setting the reference
      lacks (`reference.ConversionError`), or a Hub failure (one line naming the repo).
  """
  _check_repo_id(repo_id)
  model_dir, metrics = locate(run_or_model)
  with tempfile.TemporaryDirectory(prefix='wav2sleep_push_') as tmp:
    folder = pathlib.Path(tmp)
    stage(model_dir, metrics, repo_id, folder, reference_format)
    return _upload(folder, repo_id, private, revision, commit_message
                   or 'Upload wav2sleep_jax model')


def repo_url(repo_id: str) -> str:
  """The repo's page on the Hub this process talks to (HF_ENDPOINT)."""
  from huggingface_hub import constants  # pylint: disable=import-outside-toplevel

  return f'{constants.ENDPOINT}/{repo_id}'


def _upload(folder: pathlib.Path, repo_id: str, private: bool, revision: str | None,
            message: str) -> str:
  import huggingface_hub  # pylint: disable=import-outside-toplevel

  api = huggingface_hub.HfApi()
  try:
    api.create_repo(repo_id, exist_ok=True, private=private)
    if revision is not None:
      api.create_branch(repo_id, branch=revision, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        revision=revision,
        commit_message=message,
        delete_patterns=list(hub.ALLOW_PATTERNS))
  except Exception as e:  # pylint: disable=broad-except  # Known ones become one line.
    error = _push_error(e, repo_id if revision is None else f'{repo_id}@{revision}')
    if error is None:
      raise
    raise error from e
  return info.oid


def _push_error(e: Exception, where: str) -> cli.InputError | None:
  """The one-line InputError for a failed push, None for anything else."""
  import httpx2  # pylint: disable=import-outside-toplevel
  from huggingface_hub import constants  # pylint: disable=import-outside-toplevel
  from huggingface_hub import errors  # pylint: disable=import-outside-toplevel

  status = getattr(getattr(e, 'response', None), 'status_code', None)
  if isinstance(e, errors.HfHubHTTPError) and status in (401, 403):
    return cli.InputError(f'Hub repo {where}: push refused (HTTP {status}); {_LOGIN} with a '
                          'token that can write to it.')
  if isinstance(e, errors.RevisionNotFoundError):
    return cli.InputError(f'Hub repo {where}: no such branch to push to.')
  if isinstance(e, errors.RepositoryNotFoundError):
    return cli.InputError(f'Hub repo {where} not found and not created ({_LOGIN}).')
  if isinstance(e, errors.OfflineModeIsEnabled):
    return cli.InputError(f'Hub repo {where}: cannot push while HF_HUB_OFFLINE is set.')
  if isinstance(e, httpx2.TransportError):
    return cli.InputError(f'Hub repo {where}: no connection to {constants.ENDPOINT}.')
  if isinstance(e, errors.HfHubHTTPError):
    first = ' '.join(str(e).split('\n')[0].split()) or type(e).__name__
    return cli.InputError(f'Hub repo {where}: the Hub answered HTTP {status}: {first}')
  return None
