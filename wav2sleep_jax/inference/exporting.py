"""Serialises the inference function with `jax.export` (StableHLO); see wav2sleep_jax.export.

export_model(model, ...) -> jax.export.Exported; save/load with its metadata JSON;
export_to_file(model_path, output, ...) is what the command runs.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wav2sleep_jax.core import output_paths
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.inference import model as model_lib


def input_specs(signals: Sequence[str],
                epochs: int,
                batch_size: int = 1) -> dict[str, jax.ShapeDtypeStruct]:
  """{signal: ShapeDtypeStruct([batch_size, epochs * samples_per_epoch], float32)}."""
  return {
      n: jax.ShapeDtypeStruct((batch_size, epochs * signals_lib.samples_per_epoch(n)), jnp.float32)
      for n in signals
  }


def export_model(model: model_lib.StagingModel,
                 signals: Sequence[str] | None = None,
                 epochs: int = 1200,
                 batch_size: int = 1,
                 platforms: Sequence[str] | None = None) -> jax.export.Exported:
  """Exports logits_BSK = f({signal: x_BT}) for a fixed signal set and shape.

  Args:
    model: the model (its parameters become constants of the export).
    signals: the signal set, a subset of `model.signals` (default: all).
    epochs: night length in 30-s epochs.
    batch_size: nights per call.
    platforms: lowering platforms (default: the current backend).

  Raises:
    ValueError: on signals the model does not take, or bad sizes.
  """
  signals = tuple(signals or model.signals)
  unknown = [s for s in signals if s not in model.signals]
  if unknown or len(set(signals)) != len(signals):
    raise ValueError(f'Signals {list(signals)} must be distinct inputs of this model '
                     f'({list(model.signals)}).')
  if epochs < 1 or batch_size < 1:
    raise ValueError(f'epochs and batch_size must be >= 1, got {epochs}, {batch_size}.')
  present_M = np.array([n in signals for n in model.signals])

  def logits_fn(x):
    return model.forward(x, jnp.broadcast_to(present_M, (batch_size, len(present_M))))

  return jax.export.export(
      jax.jit(logits_fn), platforms=platforms)(
          input_specs(signals, epochs, batch_size))


def metadata(model: model_lib.StagingModel, exported: jax.export.Exported) -> dict:
  """What a consumer needs to feed the export (written as `<output>.json`)."""
  (x_tree,), _ = jax.tree.unflatten(exported.in_tree, exported.in_avals)
  return {
      'signals': {
          n: {
              'shape': list(a.shape),
              'dtype': str(a.dtype),
              'samples_per_epoch': signals_lib.samples_per_epoch(n)
          } for n, a in x_tree.items()
      },
      'output': {
          'shape': list(exported.out_avals[0].shape),
          'dtype': 'float32'
      },
      'stage_names': list(model.stage_names),
      'platforms': list(exported.platforms),
      'inputs': ('each signal prepared with the preprocessing below and z-scored over the '
                 'night (reference: over its whole grid); all signals present'),
      'preprocessing': model.preprocessing.to_dict(),
      **({
          'model_commit': model.hub.model_commit
      } if model.hub else {}),
  }


def save(exported: jax.export.Exported,
         path: str | os.PathLike[str],
         meta: dict | None = None) -> str:
  """Writes the serialised export (and `<path>.json` with `meta`)."""
  path = os.fspath(path)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path, 'wb') as f:
    f.write(exported.serialize())
  if meta is not None:
    with open(path + '.json', 'w', encoding='utf-8') as f:
      json.dump(meta, f, indent=1)
  return path


def load(path: str | os.PathLike[str]) -> jax.export.Exported:
  """Reads a function written by `save`; call it with `.call(x)`."""
  with open(path, 'rb') as f:
    return jax.export.deserialize(bytearray(f.read()))


def export_to_file(model_path: str | os.PathLike[str],
                   output: str | os.PathLike[str],
                   signals: Sequence[str] | None = None,
                   epochs: int = 1200,
                   batch_size: int = 1,
                   platforms: Sequence[str] | None = None) -> jax.export.Exported:
  """Loads a checkpoint, exports it and writes `output` and `output.json`."""
  output_paths.check_output_file(output)
  model = model_lib.load_model(model_path)
  exported = export_model(model, signals, epochs, batch_size, platforms)
  save(exported, output, metadata(model, exported))
  return exported
