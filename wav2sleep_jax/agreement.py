"""Epoch agreement of our hypnograms with another tool's (e.g. the reference's own).

  python -m wav2sleep_jax.agreement --reference=REFERENCE_OUTPUT --ours=OUR_OUTPUT

Both folders hold `<name>.preds.csv` files (column `Pred`), as the reference's
`predict_on_folder` and our `predict` write them; nights are matched by relative
path and compared on the epochs both files have. Prints one line per night
(epochs, agreement, Cohen's kappa) and the agreement over all epochs. The library
is `wav2sleep_jax.evaluation.hypnogram_agreement`.
"""

from __future__ import annotations

from absl import flags

from wav2sleep_jax.core import cli
from wav2sleep_jax.evaluation import hypnogram_agreement as agreement


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_string(
      'reference', None, 'Folder of the other tool\'s <name>.preds.csv.', required=True)
  flags.DEFINE_string('ours', None, 'Folder of our predict outputs.', required=True)


def main(argv):
  del argv  # cli.run refuses positional arguments.
  nights, unmatched = agreement.compare_folders(flags.FLAGS.reference, flags.FLAGS.ours)
  print(agreement.table(nights))
  if unmatched:
    print(f'In one folder only ({len(unmatched)}): {", ".join(unmatched)}')


def run():
  """Console script `wav2sleep-agreement`."""
  define_flags()
  cli.run(main)


if __name__ == '__main__':
  run()
