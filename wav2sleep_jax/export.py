r"""Serialises the inference function with `jax.export` (StableHLO).

  python -m wav2sleep_jax.export --model=CHECKPOINT --output=model.jaxexport \
      [--signals=ECG,THX] [--epochs=1200] [--batch_size=1] [--platforms=cpu,cuda]

The exported function takes a dict {signal: float32 [batch_size, epochs *
samples_per_epoch]} of z-scored signals (every signal of the set present in
every night) and returns float32 logits [batch_size, epochs, num_classes]. It
runs without this package or Flax: only `jax` is needed to load and call it,

  exported = jax.export.deserialize(open('model.jaxexport', 'rb').read())
  logits_BSK = exported.call({'ECG': ecg_BT, 'THX': thx_BT})

and the StableHLO module (`exported.mlir_module()`) can be compiled by any
other XLA runtime. `<output>.json` records the signals, shapes and class names.
"""

from __future__ import annotations

from absl import flags
from absl import logging

from wav2sleep_jax.core import cli
from wav2sleep_jax.inference import exporting


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_string(
      'model',
      None, 'wav2sleep_jax checkpoint, reference folder '
      '(config.yaml + state_dict.pth), or Hub model '
      'hf://namespace/name[@revision].',
      required=True)
  flags.DEFINE_string('output', None, 'File for the serialised function.', required=True)
  flags.DEFINE_list('signals', None, "Signal set (default: all the model's signals).")
  flags.DEFINE_integer('epochs', 1200, 'Night length in 30-s epochs.', lower_bound=1)
  flags.DEFINE_integer('batch_size', 1, 'Nights per call.', lower_bound=1)
  flags.DEFINE_list('platforms', None,
                    "Target platforms, e.g. cpu,cuda,tpu (default: this machine's backend).")


def main(argv):
  del argv  # cli.run refuses positional arguments.
  cli.quiet_orbax()
  logging.set_verbosity(logging.WARNING)  # Progress bars and results, not INFO logs.
  fl = flags.FLAGS
  try:
    exported = exporting.export_to_file(fl.model, fl.output, fl.signals, fl.epochs, fl.batch_size,
                                        fl.platforms)
  except ValueError as e:  # Signal set or platforms the model/JAX cannot export.
    raise cli.InputError(e) from e
  shapes = ', '.join(f'{a.shape}' for a in exported.in_avals)
  print(f'Wrote {fl.output} (+ .json): inputs {shapes} -> logits '
        f'{exported.out_avals[0].shape}, platforms {", ".join(exported.platforms)}.')


def run():
  """Console script `wav2sleep-export`."""
  define_flags()
  cli.run(main)


if __name__ == '__main__':
  run()
