"""Evaluate a trained run on every dataset x signal subset (the paper's Table 6).

  python -m wav2sleep_jax.evaluate --workdir=runs/demo
  python -m wav2sleep_jax.evaluate --workdir=runs/paper --split=validation \
      --subsets='ECG;ECG,THX;PPG' --datasets=shhs,mesa --batch_size=8
  python -m wav2sleep_jax.evaluate --workdir=eval/published --model=hf://joncarter/wav2sleep \
      --datasets=shhs/reference,mesa/reference --data_dir=DIR

Reads WORKDIR/config.json (written by wav2sleep_jax.train) and the model in
WORKDIR/model and evaluates as training's final table did (evaluator.evaluate_sources;
the run's eval_max_epochs unless --max_epochs overrides it: the same numbers); writes
WORKDIR/eval/<split>/: metrics.json, table.md (rows = signal subsets, columns =
datasets), confusion/<dataset>__<subset>.png and tensorboard/. See evaluator.evaluate_workdir. Exits 0, 1 if a dataset of the
config is not prepared (the others are evaluated; the summary names it), 2 on a
usage or input error (one line on stderr: missing workdir, config.json, model
or named dataset, or records whose preprocessing is not the model's).

--model evaluates another model (ours, a reference folder or hf://...) into
WORKDIR/eval/; without a WORKDIR/config.json the paper's config
(configs/default.py: its subsets, batch size and test datasets) is used. The
records must have the model's preprocessing: the published models need records
built with the `reference` builder config (e.g. shhs/reference).
"""

from __future__ import annotations

from absl import flags
from absl import logging
import jax

from wav2sleep_jax.configs import default as default_config
from wav2sleep_jax.core import cli
from wav2sleep_jax.core import distributed
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.evaluation import tables
from wav2sleep_jax.models import host_heap


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_string('workdir', None, 'Directory of a training run.', required=True)
  flags.DEFINE_enum('split', 'test', list(evaluator.SPLITS), 'Split to evaluate.')
  flags.DEFINE_string(
      'subsets', '', "Extra signal subsets besides the config's: ';' between subsets, ',' "
      "between signals, 'all' = all available (e.g. 'ECG;ECG,THX;PPG').")
  flags.DEFINE_string(
      'model', None, 'Evaluate this model instead of WORKDIR/model: a wav2sleep_jax model folder, '
      'a reference folder (config.yaml + state_dict.pth) or hf://namespace/name[@revision].')
  flags.DEFINE_list('datasets', None, 'Datasets (default: those of the config).')
  flags.DEFINE_string('data_dir', None, 'TFDS data dir (default: the run\'s).')
  flags.DEFINE_integer(
      'batch_size', None, 'Nights per global batch (default: eval_batch_size).', lower_bound=1)
  flags.DEFINE_integer(
      'max_epochs',
      None, "Cut nights after this many 30-s epochs (0: whole nights; e.g. 1200 = "
      "the paper's 10 h). Default: the run config's eval_max_epochs, as training evaluated "
      '(0 for runs without it). Cut scored epochs are counted in the report.',
      lower_bound=0)
  distributed.define_flags()


def main(argv):
  del argv  # cli.run refuses positional arguments.
  cli.quiet_orbax()
  distributed.initialize_from_flags()
  out = evaluator.evaluate_workdir(
      flags.FLAGS.workdir,
      split=flags.FLAGS.split,
      subsets=evaluator.parse_subsets(flags.FLAGS.subsets),
      datasets=flags.FLAGS.datasets,
      data_dir=flags.FLAGS.data_dir,
      batch_size=flags.FLAGS.batch_size,
      max_epochs=flags.FLAGS.max_epochs,
      model=flags.FLAGS.model,
      config=default_config.get_config() if flags.FLAGS.model else None)
  if jax.process_index() == 0:
    print(tables.summary_tables(out['results'], out['subsets'], out['split'], out['datasets']))
    print(f"\nFull report: {flags.FLAGS.workdir}/eval/{out['split']}/table.md")
  if out['missing_datasets']:
    print(f"Not evaluated (no prepared {out['split']!r} split): "
          f"{', '.join(out['missing_datasets'])}")
    return cli.EXIT_PARTIAL
  return 0


def run():
  """Console script `wav2sleep-evaluate`."""
  define_flags()
  host_heap.reexec_with_reusable_heap()
  cli.run(main)


if __name__ == '__main__':
  run()
