"""Open data only (no NSRR agreement): PhysioNet datasets built with tfds_builders.

  python -m tfds_builders.build cinc2018 --manual_dir=physionet/cinc2018 --data_dir=tfds
  (likewise ucddb, slpdb, hmc; README, "No NSRR access?")
  python -m wav2sleep_jax.train --config=wav2sleep_jax/configs/open.py --workdir=runs/open \
      --config.data_dir=tfds
  python -m wav2sleep_jax.train --config=wav2sleep_jax/configs/open.py:ecg_only ...
  python -m wav2sleep_jax.train --config=wav2sleep_jax/configs/open.py:eog ...

Variants (config argument):
  ''          cardiorespiratory, 4 classes: ECG + ABD + THX (no open dataset has PPG) on
              cinc2018 + ucddb + slpdb (hmc has neither belt).
  'ecg_only'  ECG, 4 classes, on cinc2018 + ucddb + slpdb + hmc.
  'eog'       EOG-L + EOG-R, 5 classes, on hmc + ucddb (the EOG model's setup, eog.py).

Evaluation table (test split, rows = signal subsets of `eval_subsets`, columns = the
datasets of `test_datasets`, cells = Cohen's kappa and accuracy per dataset and total):
  ''          rows all / ECG / ECG+THX / THX / ABD; columns cinc2018, ucddb, slpdb.
  'ecg_only'  row all (= ECG); columns cinc2018, ucddb, slpdb, hmc.
  'eog'       rows all / EOG-L / EOG-R; columns hmc, ucddb.
No full run has been made on these datasets; expect ucddb and slpdb (25 and 18 records, a
handful of test nights each) to give noisy per-dataset numbers.
"""

from __future__ import annotations

import ml_collections

from wav2sleep_jax.configs import common
from wav2sleep_jax.core import signals as signals_lib

VARIANTS = ('', 'ecg_only', 'eog')
CARDIORESPIRATORY_DATASETS = ('cinc2018', 'ucddb', 'slpdb')
ECG_DATASETS = CARDIORESPIRATORY_DATASETS + ('hmc',)
EOG_DATASETS = ('hmc', 'ucddb')


def _datasets(c: ml_collections.ConfigDict, names: tuple[str, ...]) -> None:
  c.train_datasets = c.val_datasets = c.test_datasets = names


def get_config(variant: str | None = None):
  variant = common.check_variant(variant, VARIANTS)
  c = common.base_config()
  if variant == 'eog':
    c.model = common.model_config(
        **common.PAPER_MODEL_OVERRIDES, signals=signals_lib.EOG, num_classes=5)
    c.mask_probs = ml_collections.ConfigDict({'EOG-L': 0.5, 'EOG-R': 0.5})
    c.backup_signals = signals_lib.EOG
    c.eval_subsets = ((), ('EOG-L',), ('EOG-R',))
    _datasets(c, EOG_DATASETS)
  elif variant == 'ecg_only':
    c.model.signals = ('ECG',)
    c.eval_subsets = ((),)
    _datasets(c, ECG_DATASETS)
  else:
    c.model.signals = ('ECG', 'ABD', 'THX')
    c.eval_subsets = ((), ('ECG',), ('ECG', 'THX'), ('THX',), ('ABD',))
    _datasets(c, CARDIORESPIRATORY_DATASETS)
  # Smaller datasets than the NSRR cohorts: validate about once per pass at batch 16.
  c.eval_every_steps = 100
  c.lock()
  return c
