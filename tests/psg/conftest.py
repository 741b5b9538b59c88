"""Fixtures for the PSG parsing tests."""

from __future__ import annotations

import pathlib
from typing import Callable, Sequence

import pytest

import psg_testutil


@pytest.fixture
def make_edf(tmp_path) -> Callable[..., pathlib.Path]:
  """Factory: make_edf(sigs, name='rec.edf', **kwargs) -> path of a new EDF."""

  def _make(sigs: Sequence[psg_testutil.Sig], name: str = 'rec.edf', **kwargs):
    return psg_testutil.write_edf(tmp_path / name, sigs, **kwargs)

  return _make


@pytest.fixture
def shared_dir() -> pathlib.Path:
  """The shared data folder next to the checkout; skips if absent."""
  if not psg_testutil.SHARED_DIR.is_dir():
    pytest.skip(f'shared data folder {psg_testutil.SHARED_DIR} not found next '
                'to the checkout; real-data tests skipped')
  return psg_testutil.SHARED_DIR
