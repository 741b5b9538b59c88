"""The code is formatted with yapf as configured in pyproject.toml ([tool.yapf]).

Apply with `.venv/bin/yapf -i -r -p wav2sleep_jax tests tfds_builders`.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ('wav2sleep_jax', 'tests', 'tfds_builders')


def test_code_is_yapf_formatted():
  pytest.importorskip('yapf', reason="yapf missing: pip install -e '.[test]'")
  result = subprocess.run([sys.executable, '-m', 'yapf', '--diff', '-r', '-p', *PACKAGES],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600)
  changed = sorted({
      line[4:].split('\t')[0].removesuffix('(original)').strip()
      for line in result.stdout.splitlines()
      if line.startswith('--- ')
  })
  assert result.returncode == 0 and not changed, (
      f'not yapf-formatted: {changed[:20]}; run: yapf -i -r -p {" ".join(PACKAGES)}\n'
      f'{result.stderr[-2000:]}')
