"""Checks that an output path can be written, made before any expensive work."""

from __future__ import annotations

import os
import tempfile


def check_writable_folder(folder: str, output: str) -> None:
  """Creates `folder` if needed and writes a probe file in it.

  Raises:
    NotADirectoryError: `folder` (or a parent) is a file; names `output`.
    PermissionError: the folder cannot be created or written to; names `output`.
  """
  try:
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
      pass
  except (NotADirectoryError, FileExistsError) as e:
    raise NotADirectoryError(
        f'Output {output}: {folder} or a parent is a file, not a folder.') from e
  except OSError as e:
    raise PermissionError(f'Output {output}: cannot write in {folder} ({e.strerror}).') from e


def check_output_dir(path: str | os.PathLike[str]) -> str:
  """Creates the output folder if needed and checks that files can be written there.

  Raises:
    NotADirectoryError: `path` (or a parent) is a file.
    PermissionError: the folder cannot be created or written to.
  """
  path = os.fspath(path)
  if os.path.exists(path) and not os.path.isdir(path):
    raise NotADirectoryError(f'Output {path} is a file, not a folder.')
  check_writable_folder(path, path)
  return path


def check_output_file(path: str | os.PathLike[str]) -> str:
  """Checks that file `path` can be written (its folder is created) before any work.

  Raises:
    IsADirectoryError, NotADirectoryError, PermissionError: it cannot.
  """
  path = os.fspath(path)
  if os.path.isdir(path):
    raise IsADirectoryError(f'Output {path} is a folder; give a file path.')
  check_writable_folder(os.path.dirname(path) or '.', path)
  return path
