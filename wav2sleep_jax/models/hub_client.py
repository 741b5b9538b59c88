"""Models on the Hugging Face Hub: `hf://namespace/name[@revision]` wherever a model path goes.

  hub_model = hub.download('hf://joncarter/wav2sleep@main')
  hub_model.local_dir   # snapshot folder in the cache: a reference or a wav2sleep_jax model
  hub_model.commit      # the 40-hex commit actually used

Downloads go through `huggingface_hub.snapshot_download` (only the model's files), so
HF_HOME, HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE apply and a cached model loads offline.
Every cached file is checked against the hash its blob is named by (sha256 for LFS files,
git blob sha1 otherwise); a corrupt one is deleted and downloaded again once. Hub and cache
failures are `cli.InputError`s: one line naming the repo (and revision).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import pathlib
import re
import sys

from wav2sleep_jax.core import cli

PREFIX = 'hf://'
ALLOW_PATTERNS = ('config.yaml', 'state_dict.pth', 'README.md', 'model_config.json',
                  'preprocessing.json', 'params/**')
_NAME = r'[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?'
_URI = re.compile(rf'hf://({_NAME}/{_NAME})(?:@(\S+))?')
_COMMIT = re.compile(r'[0-9a-f]{40}')
_SHA256 = re.compile(r'[0-9a-f]{64}')
_CHUNK = 1 << 20
_LOGIN = 'set HF_TOKEN or run `hf auth login`'


@dataclasses.dataclass(frozen=True)
class HubModel:
  """A model downloaded from the Hub.

  Attributes:
    uri: as given, e.g. 'hf://joncarter/wav2sleep@main'.
    repo_id: 'namespace/name'.
    revision: the revision asked for (None: the default branch).
    commit: the 40-hex commit actually used.
    local_dir: the snapshot folder holding the model's files.
  """

  uri: str
  repo_id: str
  revision: str | None
  commit: str
  local_dir: pathlib.Path

  @property
  def model_commit(self) -> str:
    """'namespace/name@commit', for run reports."""
    return f'{self.repo_id}@{self.commit}'


def is_hub_uri(text: object) -> bool:
  """Whether `text` is a string naming a Hub model (`hf://` prefix)."""
  return isinstance(text, str) and text.startswith(PREFIX)


def parse_hub_uri(text: str) -> tuple[str, str | None]:
  """'hf://namespace/name[@revision]' -> (repo_id, revision or None); InputError if malformed."""
  match = _URI.fullmatch(text) if isinstance(text, str) else None
  if match is None or '--' in match[1] or '..' in match[1]:
    raise cli.InputError(f'{text!r} is not a Hub model: expected hf://namespace/name[@revision].')
  return match[1], match[2]


def download(uri: str) -> HubModel:
  """Downloads (or finds in the cache) the model files of `uri`; verifies them.

  Raises:
    cli.InputError: malformed URI, unknown repo or revision, gated or private repo
      without access, no network and nothing cached, corrupt cached file that cannot
      be downloaded again, or a repo without a loadable model.
  """
  repo_id, revision = parse_hub_uri(uri)
  where = repo_id if revision is None else f'{repo_id}@{revision}'
  folder = _snapshot(repo_id, revision, where)
  corrupt = _corrupt_files(folder)
  if corrupt:
    commit = folder.name
    for name in corrupt:
      _evict(folder / name)
    try:
      folder = _snapshot(repo_id, commit, where)
    except cli.InputError as e:
      why = f'the Hub cannot be reached: {_unreachable()}' if _is_unreachable(e.__cause__) else e
      raise cli.InputError(f'Hub model {where}: cached {corrupt[0]} is corrupt (now removed) and '
                           f'could not be downloaded again ({why}).') from e
    still = [name for name in corrupt if not (folder / name).is_file()] + _corrupt_files(folder)
    if still:
      _evict(folder / still[0])
      raise cli.InputError(f'Hub model {where}: {still[0]} (commit {commit}) is corrupt in the '
                           'cache and could not be downloaded again intact.')
  if not _COMMIT.fullmatch(folder.name):
    raise RuntimeError(f'snapshot_download returned {folder}, not a commit snapshot folder.')
  _check_loadable(folder, where)
  return HubModel(uri, repo_id, revision, folder.name, folder)


def _snapshot(repo_id: str, revision: str | None, where: str) -> pathlib.Path:
  """snapshot_download of the model files -> snapshot folder; Hub failures as InputError."""
  import huggingface_hub  # pylint: disable=import-outside-toplevel

  logging.getLogger('huggingface_hub._snapshot_download').addFilter(_no_files_matched)
  try:
    path = huggingface_hub.snapshot_download(
        repo_id,
        revision=revision,
        allow_patterns=list(ALLOW_PATTERNS),
        tqdm_class=None if sys.stderr.isatty() else _silent_progress())
  except Exception as e:  # pylint: disable=broad-except  # Known ones become one line.
    error = _input_error(e, repo_id, revision, where)
    if error is None:
      raise
    raise error from e
  return pathlib.Path(path)


@functools.cache
def _silent_progress() -> type:
  """A progress bar class that never shows (stderr is no terminal: errors stay one line)."""
  from huggingface_hub.utils import tqdm  # pylint: disable=import-outside-toplevel

  class Silent(tqdm):

    def __init__(self, *args, **kwargs):
      super().__init__(*args, **{**kwargs, 'disable': True})

  return Silent


def _no_files_matched(record: logging.LogRecord) -> bool:
  """Drops the library's 'No files matched' warning: `_check_loadable` reports it."""
  return not record.getMessage().startswith('No files matched')


def _input_error(e: Exception, repo_id: str, revision: str | None,
                 where: str) -> cli.InputError | None:
  """The one-line InputError for a Hub or cache failure, None for anything else."""
  from huggingface_hub import constants  # pylint: disable=import-outside-toplevel
  from huggingface_hub import errors  # pylint: disable=import-outside-toplevel

  status = getattr(getattr(e, 'response', None), 'status_code', None)
  unreachable = _unreachable()
  if isinstance(e, errors.RevisionNotFoundError):
    return cli.InputError(f'Hub model {repo_id} has no revision {revision!r} '
                          '(a branch, tag or commit).')
  if isinstance(e, errors.GatedRepoError):
    return cli.InputError(f'Hub model {where} is gated: request access on the Hub, then {_LOGIN}.')
  if isinstance(e, errors.RepositoryNotFoundError):
    return cli.InputError(f'Hub model {repo_id} not found (if it is private, {_LOGIN}).')
  if isinstance(e, errors.HfHubHTTPError) and status in (401, 403):
    return cli.InputError(f'Hub model {where}: access denied (HTTP {status}); {_LOGIN} '
                          'with a token that can read it.')
  if isinstance(e, errors.IncompleteSnapshotError):
    return cli.InputError(f'Hub model {where}: the cached copy is incomplete and the Hub '
                          f'cannot be reached ({unreachable}).')
  if _is_unreachable(e):
    if isinstance(e.__cause__, errors.HfHubHTTPError):  # e.g. 403, 5xx, nothing cached.
      return _input_error(e.__cause__, repo_id, revision, where)
    return cli.InputError(f'Hub model {where} is not in the cache and the Hub cannot be '
                          f'reached ({unreachable}).')
  if isinstance(e, errors.HFValidationError):
    return cli.InputError(f'{PREFIX}{where} is not a Hub model: {_first_line(e)}')
  if isinstance(e, errors.FileMetadataError):
    return cli.InputError(f'Hub model {where}: {constants.ENDPOINT} does not answer like the '
                          'Hugging Face Hub (check HF_ENDPOINT).')
  if isinstance(e, errors.HfHubHTTPError):
    return cli.InputError(f'Hub model {where}: the Hub answered HTTP {status}: {_first_line(e)}')
  if isinstance(e, OSError):
    return cli.InputError(f'Hub model {where}: download failed: {_first_line(e)}')
  return None


def _unreachable() -> str:
  """Why the Hub is not asked: offline mode, or no connection to the endpoint."""
  from huggingface_hub import constants  # pylint: disable=import-outside-toplevel

  if constants.is_offline_mode():
    return 'HF_HUB_OFFLINE is set'
  return f'no connection to {constants.ENDPOINT}'


def _is_unreachable(e: BaseException | None) -> bool:
  """Whether `e` means the Hub could not be asked (and the cache could not answer)."""
  import httpx2  # pylint: disable=import-outside-toplevel
  from huggingface_hub import errors  # pylint: disable=import-outside-toplevel

  return isinstance(
      e, (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, httpx2.TransportError))


def _first_line(e: BaseException) -> str:
  return ' '.join(str(e).split('\n')[0].split()) or type(e).__name__


def _file_hash(path: pathlib.Path, git_blob: bool) -> str:
  """sha256 of the content, or (git_blob) sha1(b'blob <size>\\0' + content)."""
  digest = hashlib.sha1() if git_blob else hashlib.sha256()
  if git_blob:
    digest.update(b'blob %d\0' % path.stat().st_size)
  with open(path, 'rb') as f:
    while chunk := f.read(_CHUNK):
      digest.update(chunk)
  return digest.hexdigest()


def _corrupt_files(folder: pathlib.Path) -> list[str]:
  """Files of a snapshot whose content does not hash to their blob's name (or whose
  blob is gone). Copies (caches without symlinks) have no blob name to check."""
  corrupt = []
  for path in sorted(folder.rglob('*')) if folder.is_dir() else ():
    if not path.is_symlink():
      continue
    blob = path.resolve()
    name = blob.name.lower()
    if not blob.is_file():
      corrupt.append(path.relative_to(folder).as_posix())
    elif _SHA256.fullmatch(name) or _COMMIT.fullmatch(name):
      if _file_hash(blob, git_blob=len(name) == 40) != name:
        corrupt.append(path.relative_to(folder).as_posix())
  return corrupt


def _evict(path: pathlib.Path) -> None:
  """Deletes a snapshot file's blob and its symlink."""
  blob = path.resolve()
  path.unlink(missing_ok=True)
  if blob != path:
    blob.unlink(missing_ok=True)


def _check_loadable(folder: pathlib.Path, where: str) -> None:
  from wav2sleep_jax.models import io as model_io  # pylint: disable=import-outside-toplevel
  from wav2sleep_jax.models import reference  # pylint: disable=import-outside-toplevel

  if not (reference.is_reference_checkpoint(folder) or model_io.is_model_checkpoint(folder)):
    raise cli.InputError(
        f'Hub model {where} (commit {folder.name}) holds no loadable model: needs config.yaml + '
        f'state_dict.pth or {model_io.CONFIG_FILE} + {model_io.PARAMS_DIR}/.')
