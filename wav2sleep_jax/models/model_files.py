"""What a model path is: one of our model folders, a reference folder, or hf://.

  loaded = read_model('hf://joncarter/wav2sleep')   # or a folder of either kind
  loaded.config, loaded.params, loaded.preprocessing, loaded.hub

The one reader behind `load_model`, `evaluate --model` and a run's initial weights.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import jax

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.models import hub_client
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class LoadedModel:
  """A model's config, parameters, the preprocessing its weights expect, and where from.

  Attributes:
    path: the local folder read.
    kind: 'wav2sleep_jax' (ours) or 'reference'.
    hub: the Hub model (repo, commit) for an hf:// path, else None.
  """

  config: ModelConfig
  params: Any
  preprocessing: prep_lib.Preprocessing
  path: pathlib.Path
  kind: str
  hub: hub_client.HubModel | None = None


def read_model(path: str | os.PathLike[str],
               sharding: jax.sharding.Sharding | None = None) -> LoadedModel:
  """Reads a model of either kind, from disk or the Hub (`hub_client.download`).

  Raises:
    FileNotFoundError: the path is missing or holds neither kind of model.
    cli.InputError: a Hub failure or a reference checkpoint that cannot be reproduced.
  """
  from wav2sleep_jax.models import reference  # Pulls yaml; only when needed.

  hub_model = hub_client.download(path) if hub_client.is_hub_uri(path) else None
  folder = pathlib.Path(hub_model.local_dir if hub_model else path)
  if not folder.exists():
    raise FileNotFoundError(f'Model path {folder} does not exist.')
  if model_io.is_model_checkpoint(folder):
    cfg, params = model_io.load_model_checkpoint(folder, sharding)
    return LoadedModel(cfg, params, prep_lib.load(folder), folder, prep_lib.OURS, hub_model)
  if reference.is_reference_checkpoint(folder):
    cfg, params = reference.load_reference(folder)
    if sharding is not None:
      params = jax.device_put(params, sharding)
    return LoadedModel(cfg, params, prep_lib.reference(), folder, prep_lib.REFERENCE, hub_model)
  raise FileNotFoundError(
      f'{folder} is neither a wav2sleep_jax checkpoint ({model_io.CONFIG_FILE} + '
      f'{model_io.PARAMS_DIR}/) nor a reference checkpoint (config.yaml + state_dict.pth).')
