"""Output path checks shared by predict and export."""

import os

import pytest

from wav2sleep_jax.core import output_paths


def test_output_dir_is_created_and_files_or_file_parents_are_refused(tmp_path):
  assert output_paths.check_output_dir(tmp_path / 'a' / 'b') == str(tmp_path / 'a' / 'b')
  assert (tmp_path / 'a' / 'b').is_dir()
  (tmp_path / 'f').write_text('x')
  with pytest.raises(NotADirectoryError, match='is a file, not a folder'):
    output_paths.check_output_dir(tmp_path / 'f')
  with pytest.raises(NotADirectoryError, match=r'Output .*f/sub: .* is a file'):
    output_paths.check_output_dir(tmp_path / 'f' / 'sub')


def test_output_file_checks_its_folder(tmp_path):
  assert output_paths.check_output_file(tmp_path / 'new' / 'm.bin').endswith('m.bin')
  assert (tmp_path / 'new').is_dir()
  with pytest.raises(IsADirectoryError):
    output_paths.check_output_file(tmp_path)
  (tmp_path / 'f').write_text('x')
  with pytest.raises(NotADirectoryError, match=r'Output .*m\.bin'):
    output_paths.check_output_file(tmp_path / 'f' / 'm.bin')


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write anywhere')
def test_unwritable_folder_is_a_permission_error(tmp_path):
  locked = tmp_path / 'locked'
  locked.mkdir(mode=0o500)
  with pytest.raises(PermissionError, match='cannot write in'):
    output_paths.check_output_file(locked / 'm.bin')
