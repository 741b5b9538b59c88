"""Shared test fixtures: locating ../shared beside the checkout."""

from __future__ import annotations

import os
import pathlib

import pytest

from wav2sleep_jax.models import host_heap

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / 'shared'
REFERENCE_FIXTURES = SHARED / 'fixtures' / 'reference'

# CLI subprocesses start with the reusable-heap settings instead of re-executing.
if host_heap.applies():
  os.environ.update(host_heap.environment())


def require_shared(*parts: str) -> pathlib.Path:
  """Path under ../shared, or skip the test with a clear message if absent."""
  path = SHARED.joinpath(*parts)
  if not path.exists():
    pytest.skip(f'{path} not found: the shared/ folder must sit beside the checkout '
                '(CI provides it).')
  return path
