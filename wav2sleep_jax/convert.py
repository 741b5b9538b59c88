"""Import a reference (PyTorch) wav2sleep checkpoint into wav2sleep_jax.

  python -m wav2sleep_jax.convert --reference=FOLDER --output=DIR

FOLDER holds `config.yaml` and `state_dict.pth` (read without torch); the
library is `wav2sleep_jax.models.reference`.
"""

from __future__ import annotations

from absl import flags
from absl import logging

from wav2sleep_jax.core import cli
from wav2sleep_jax.models import hub_client as hub
from wav2sleep_jax.models import reference


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_string(
      'reference', None, 'Reference checkpoint folder (config.yaml + state_dict.pth), or '
      'Hub model hf://namespace/name[@revision] holding one.')
  flags.DEFINE_string('output', None, 'Directory for the wav2sleep_jax checkpoint.')
  flags.mark_flags_as_required(['reference', 'output'])


def main(argv):
  del argv  # cli.run refuses positional arguments.
  cli.quiet_orbax()
  logging.set_verbosity(logging.WARNING)  # Progress bars and results, not INFO logs.
  output, source = flags.FLAGS.output, flags.FLAGS.reference
  hub_model = hub.download(source) if hub.is_hub_uri(source) else None
  cfg, num_params = reference.convert_reference(hub_model.local_dir if hub_model else source,
                                                output)
  print(f'Wrote {output}: signals {", ".join(cfg.signals)}, '
        f'{cfg.num_classes} classes, {num_params:,} parameters' +
        (f', from {hub_model.model_commit}.' if hub_model else '.'))


def run():
  """Console script `wav2sleep-convert`."""
  define_flags()
  cli.run(main, errors=(reference.ConversionError,))


if __name__ == '__main__':
  run()
