"""Each shared concept is defined in one module and imported everywhere else."""

from __future__ import annotations

import ast
import pathlib

import jax
import numpy as np

from wav2sleep_jax.core import stages
from wav2sleep_jax.inference import model as model_lib

_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Name -> the one module (relative path) allowed to define it.
_HOMES = {
    'UNSCORED': 'wav2sleep_jax/core/stages.py',
    'STAGE_NAMES': None,  # Spelt STAGES_5 / STAGES_4 in core/stages.py.
    'feature_key': 'wav2sleep_jax/core/signals.py',
    'softmax': 'wav2sleep_jax/inference/model.py',
    'confusion_matrix': 'wav2sleep_jax/evaluation/metrics.py',
    'host_confusion_matrix': 'wav2sleep_jax/evaluation/metrics.py',
    'RunDir': 'wav2sleep_jax/core/run_dir.py',
    'create_train_state': 'wav2sleep_jax/training/step.py',
    'evaluate_sources': 'wav2sleep_jax/evaluation/evaluator.py',
}


def _definitions(tree: ast.AST):
  for node in ast.walk(tree):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      yield node.name, node.lineno
    elif isinstance(node, ast.Assign) and isinstance(node.value,
                                                     (ast.Constant, ast.Tuple, ast.UnaryOp)):
      for target in node.targets:
        for name in ast.walk(target):
          if isinstance(name, ast.Name):
            yield name.id, node.lineno


def test_shared_concepts_have_one_home():
  misplaced = []
  for package in ('wav2sleep_jax', 'tfds_builders'):
    for path in sorted((_ROOT / package).rglob('*.py')):
      rel = path.relative_to(_ROOT).as_posix()
      for name, line in _definitions(ast.parse(path.read_text())):
        if name in _HOMES and _HOMES[name] != rel:
          misplaced.append(f'{rel}:{line} defines {name}')
  assert not misplaced, misplaced


def test_stage_names_are_spelt_once():
  assert stages.STAGES_5[stages.WAKE] == 'Wake' == stages.STAGES_4[stages.WAKE]
  assert stages.STAGES_5[stages.REM] == 'REM'


def test_host_softmax_equals_jax():
  logits = np.random.default_rng(0).normal(size=(3, 7, 5)).astype(np.float32) * 20
  probs = model_lib.softmax(logits)
  assert probs.dtype == np.float32
  np.testing.assert_allclose(probs, jax.nn.softmax(logits, axis=-1), rtol=1e-5, atol=1e-7)
