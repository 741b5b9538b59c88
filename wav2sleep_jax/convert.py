"""Import a reference (PyTorch) wav2sleep checkpoint into wav2sleep_jax.

  python -m wav2sleep_jax.convert --reference=FOLDER --output=DIR

FOLDER holds `config.yaml` and `state_dict.pth` (needs the `torch` extra); the
library is `wav2sleep_jax.models.reference`.
"""

from __future__ import annotations

from absl import flags
from absl import logging

from wav2sleep_jax.core import cli
from wav2sleep_jax.models import reference


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_string(
      'reference', None, 'Reference checkpoint folder (config.yaml + state_dict.pth).')
  flags.DEFINE_string('output', None, 'Directory for the wav2sleep_jax checkpoint.')
  flags.mark_flags_as_required(['reference', 'output'])


def main(argv):
  del argv  # cli.run refuses positional arguments.
  logging.set_verbosity(logging.WARNING)  # Orbax is chatty at INFO.
  output = flags.FLAGS.output
  cfg, num_params = reference.convert_reference(flags.FLAGS.reference, output)
  print(f'Wrote {output}: signals {", ".join(cfg.signals)}, '
        f'{cfg.num_classes} classes, {num_params:,} parameters.')


def run():
  """Console script `wav2sleep-convert`."""
  define_flags()
  cli.run(main, errors=(reference.ConversionError,))


if __name__ == '__main__':
  run()
