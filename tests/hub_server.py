"""A loopback stand-in for the Hugging Face Hub's download and upload API (tests only, no
network).

  hub = FakeHub()
  commit = hub.add_repo('ns/name', {'config.yaml': b'...'}, branch='main')
  with hub:                        # serves on http://127.0.0.1:<port>
    point_client(monkeypatch, hub.endpoint, tmp_path / 'hf')   # in-process client
    env = client_env(hub.endpoint, tmp_path / 'hf')            # for subprocesses

Routes (as huggingface_hub 2.x calls them; see `FakeHub.ROUTES`):
  GET  /api/models/{repo}[/revision/{rev}]   repo info: id, sha, siblings
  GET  /api/models/{repo}/tree/{rev}[/{dir}] file listing (?recursive=true)
  HEAD /{repo}/resolve/{rev}/{file}          X-Repo-Commit, ETag, X-Linked-* (LFS), length
  GET  /{repo}/resolve/{rev}/{file}          the content
  POST /api/repos/create                     create_repo (needs a token: it may push)
  POST /api/validate-yaml                    the README's front matter (must parse as a mapping)
  POST /api/models/{repo}/branch/{branch}    create_branch
  POST /api/models/{repo}/preupload/{rev}    every file 'regular' (no LFS, no Xet)
  POST /api/models/{repo}/commit/{rev}       NDJSON commit: a new commit on the branch
Pushes need a token in the repo's `write_tokens` when it has any (a repo created through the
API: its creator's); else 401. A pushed commit's message is in
`Repo.messages`.
Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo)
and X-Error-Message like the Hub's. A route is a (method, regex, handler name) entry;
a handler takes (match, request) and returns a `Response`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import json
import re
import threading
from typing import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

_REPO = r'(?P<repo>[^/]+/[^/]+)'
LFS_MIN_SIZE = 64 * 1024  # Files at least this large are served like LFS files.


def git_blob_sha1(content: bytes) -> str:
  return hashlib.sha1(b'blob %d\0' % len(content) + content).hexdigest()


def lfs_pointer(content: bytes) -> bytes:
  return (f'version https://git-lfs.github.com/spec/v1\noid sha256:'
          f'{hashlib.sha256(content).hexdigest()}\nsize {len(content)}\n').encode()


@dataclasses.dataclass
class Repo:
  """A model repo: branches/tags -> commit, commit -> {path: content}.

  gated / private: refused unless the request's bearer token is in `tokens` (gated: 401 or
  403 GatedRepo; private: 401 RepoNotFound without a token, 403 with another one).
  write_tokens: the tokens pushes need (empty: any request may push).
  messages: commit -> commit message, for commits pushed through the API.
  """

  refs: dict[str, str] = dataclasses.field(default_factory=dict)
  commits: dict[str, dict[str, bytes]] = dataclasses.field(default_factory=dict)
  gated: bool = False
  private: bool = False
  tokens: frozenset[str] = frozenset()
  write_tokens: frozenset[str] = frozenset()
  messages: dict[str, str] = dataclasses.field(default_factory=dict)

  def resolve(self, revision: str) -> str | None:
    if revision in self.refs:
      return self.refs[revision]
    return revision if revision in self.commits else None


@dataclasses.dataclass
class Request:
  method: str
  path: str
  query: dict[str, list[str]]
  headers: Mapping[str, str]
  body: bytes = b''

  @property
  def token(self) -> str | None:
    auth = self.headers.get('Authorization') or ''
    return auth[len('Bearer '):] if auth.startswith('Bearer ') else None


@dataclasses.dataclass
class Response:
  status: int = 200
  body: bytes = b''
  headers: dict[str, str] = dataclasses.field(default_factory=dict)

  @classmethod
  def json(cls, value, status: int = 200, **headers) -> Response:
    return cls(status, json.dumps(value).encode(), {'Content-Type': 'application/json', **headers})

  @classmethod
  def error(cls, status: int, code: str | None, message: str, **headers) -> Response:
    extra = {'X-Error-Message': message, **({'X-Error-Code': code} if code else {})}
    return cls.json({'error': message}, status, **extra, **headers)


class HubError(Exception):
  """Raised by handlers to answer with an error `Response`."""

  def __init__(self, response: Response):
    super().__init__(response.status)
    self.response = response


class FakeHub:
  """In-memory Hub repos served over loopback HTTP; `requests` logs (method, path)."""

  ROUTES = [
      ('GET', rf'/api/models/{_REPO}/revision/(?P<rev>[^/]+)', 'repo_info'),
      ('GET', rf'/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<dir>.+))?', 'tree'),
      ('GET', rf'/api/models/{_REPO}', 'repo_info'),
      ('HEAD', rf'/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)', 'resolve'),
      ('GET', rf'/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)', 'resolve'),
      ('POST', r'/api/repos/create', 'create_repo'),
      ('POST', r'/api/validate-yaml', 'validate_yaml'),
      ('POST', rf'/api/models/{_REPO}/branch/(?P<branch>[^/]+)', 'create_branch'),
      ('POST', rf'/api/models/{_REPO}/preupload/(?P<rev>[^/]+)', 'preupload'),
      ('POST', rf'/api/models/{_REPO}/commit/(?P<rev>[^/]+)', 'commit'),
  ]

  def __init__(self):
    self.repos: dict[str, Repo] = {}
    self.requests: list[tuple[str, str]] = []
    self._server: http.server.ThreadingHTTPServer | None = None
    self._thread: threading.Thread | None = None

  # Repos -----------------------------------------------------------------------------------

  def add_repo(self,
               repo_id: str,
               files: Mapping[str, bytes],
               branch: str = 'main',
               **options) -> str:
    """Creates `repo_id` (options: gated, private, tokens) with one commit; returns it."""
    self.repos[repo_id] = Repo(**options)
    return self.add_commit(repo_id, files, branch)

  def add_commit(self,
                 repo_id: str,
                 files: Mapping[str, bytes],
                 branch: str | None = 'main') -> str:
    """Adds a commit of `files` (moving `branch` to it, if given); returns its sha."""
    repo = self.repos[repo_id]
    digest = hashlib.sha1(f'{repo_id}:{len(repo.commits)}'.encode())
    for path in sorted(files):
      digest.update(path.encode() + b'\0' + hashlib.sha256(files[path]).digest())
    commit = digest.hexdigest()
    repo.commits[commit] = dict(files)
    if branch is not None:
      repo.refs[branch] = commit
    return commit

  # Serving ---------------------------------------------------------------------------------

  @property
  def endpoint(self) -> str:
    host, port = self._server.server_address[:2]
    return f'http://{host}:{port}'

  def start(self) -> FakeHub:
    self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _handler_class(self))
    self._server.daemon_threads = True
    self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
    self._thread.start()
    return self

  def stop(self) -> None:
    """Stops serving (the endpoint then refuses connections)."""
    if self._server is not None:
      self._server.shutdown()
      self._server.server_close()
      self._thread.join()
      self._server = None

  def __enter__(self) -> FakeHub:
    return self.start() if self._server is None else self

  def __exit__(self, *exc) -> None:
    self.stop()

  def dispatch(self, request: Request) -> Response:
    self.requests.append((request.method, request.path))
    for method, pattern, name in self.ROUTES:
      match = re.fullmatch(pattern, request.path)
      if method == request.method and match:
        try:
          return getattr(self, name)(match, request)
        except HubError as e:
          return e.response
    return Response.error(404, None, f'No route for {request.method} {request.path}')

  # Route handlers --------------------------------------------------------------------------

  def _repo(self, match: re.Match, request: Request) -> tuple[str, Repo]:
    repo_id = unquote(match['repo'])
    repo = self.repos.get(repo_id)
    if repo is None:
      raise HubError(Response.error(404, 'RepoNotFound', 'Repository not found'))
    if (repo.gated or repo.private) and request.token not in repo.tokens:
      if repo.private and request.token is None:
        raise HubError(Response.error(401, 'RepoNotFound', 'Invalid username or password.'))
      if repo.private:  # A token without read access to it.
        raise HubError(
            Response.error(403, None, f'Access denied: this token cannot read '
                           f'{repo_id}.'))
      if request.token is None:
        raise HubError(
            Response.error(
                401, 'GatedRepo', f'Access to model {repo_id} is restricted. You must have access '
                'to it and be authenticated to access it. Please log in.'))
      raise HubError(
          Response.error(
              403, 'GatedRepo', f'Access to model {repo_id} is restricted and you are not in the '
              'authorized list.'))
    return repo_id, repo

  def _commit(self, repo: Repo, match: re.Match) -> str:
    revision = unquote(match['rev']) if match.groupdict().get('rev') else 'main'
    commit = repo.resolve(revision)
    if commit is None:
      raise HubError(Response.error(404, 'RevisionNotFound', f'Invalid rev id: {revision}'))
    return commit

  def repo_info(self, match: re.Match, request: Request) -> Response:
    repo_id, repo = self._repo(match, request)
    commit = self._commit(repo, match)
    files = repo.commits[commit]
    return Response.json({
        'id': repo_id,
        'modelId': repo_id,
        'sha': commit,
        'private': repo.private,
        'gated': 'auto' if repo.gated else False,
        'siblings': [{
            'rfilename': p
        } for p in sorted(files)]
    })

  def tree(self, match: re.Match, request: Request) -> Response:
    _, repo = self._repo(match, request)
    files = repo.commits[self._commit(repo, match)]
    prefix = unquote(match['dir']).strip('/') + '/' if match['dir'] else ''
    recursive = request.query.get('recursive', ['false'])[0].lower() in ('1', 'true')
    entries, folders = [], set()
    for path in sorted(files):
      if not path.startswith(prefix):
        continue
      parts = path[len(prefix):].split('/')
      for depth in range(1, len(parts) if recursive else min(2, len(parts))):
        folders.add(prefix + '/'.join(parts[:depth]))
      if recursive or len(parts) == 1:
        entries.append(_tree_entry(path, files[path]))
    entries += [{
        'type': 'directory',
        'path': f,
        'oid': hashlib.sha1(f.encode()).hexdigest()
    } for f in sorted(folders)]
    if prefix and not entries:
      raise HubError(Response.error(404, 'EntryNotFound', f'{prefix} does not exist'))
    return Response.json(entries)

  def resolve(self, match: re.Match, request: Request) -> Response:
    _, repo = self._repo(match, request)
    commit = self._commit(repo, match)
    path = unquote(match['file'])
    content = repo.commits[commit].get(path)
    if content is None:
      raise HubError(
          Response.error(404, 'EntryNotFound', f'{path} does not exist',
                         **{'X-Repo-Commit': commit}))
    headers = {'X-Repo-Commit': commit, 'Content-Type': 'application/octet-stream'}
    if len(content) >= LFS_MIN_SIZE:
      sha256 = hashlib.sha256(content).hexdigest()
      headers.update({
          'ETag': f'"{git_blob_sha1(lfs_pointer(content))}"',
          'X-Linked-Etag': f'"{sha256}"',
          'X-Linked-Size': str(len(content))
      })
    else:
      headers['ETag'] = f'"{git_blob_sha1(content)}"'
    return Response(200, content, headers)

  # Upload handlers -------------------------------------------------------------------------

  def _writable(self, match: re.Match, request: Request) -> tuple[str, Repo]:
    """The repo of a push; 401 unless the request's token may push to it."""
    repo_id, repo = self._repo(match, request)
    if repo.write_tokens and request.token not in repo.write_tokens:
      message = ('Invalid username or password.'
                 if request.token is None else 'Invalid credentials in Authorization header')
      raise HubError(Response.error(401, None, message))
    return repo_id, repo

  def create_repo(self, match: re.Match, request: Request) -> Response:
    del match
    body = json.loads(request.body or b'{}')
    if not body.get('organization') or not body.get('name'):
      return Response.error(400, None, 'A repo needs a namespace and a name.')
    repo_id = f"{body['organization']}/{body['name']}"
    if request.token is None:
      return Response.error(401, None, 'Invalid username or password.')
    existing = self.repos.get(repo_id)
    if existing is not None:
      if existing.write_tokens and request.token not in existing.write_tokens:
        return Response.error(
            403, None, "You don't have the rights to create a model under "
            f"the namespace {body['organization']!r}")
      message = 'You already created this model repo'
      return Response.json({
          'error': message,
          'url': f'{self.endpoint}/{repo_id}'
      }, 409, **{'X-Error-Message': message})
    private = body.get('visibility') == 'private'
    token = frozenset({request.token})
    self.add_repo(
        repo_id, {'.gitattributes': b'*.pth filter=lfs diff=lfs merge=lfs -text\n'},
        private=private,
        tokens=token if private else frozenset(),
        write_tokens=token)
    return Response.json({'url': f'{self.endpoint}/{repo_id}', 'name': repo_id, 'id': repo_id})

  def validate_yaml(self, match: re.Match, request: Request) -> Response:
    """Checks the README's front matter: absent, or a YAML mapping between '---' lines."""
    import yaml  # pylint: disable=import-outside-toplevel

    del match
    content = json.loads(request.body)['content']
    if not content.startswith('---\n'):
      return Response.json({'errors': [], 'warnings': [{'message': 'empty metadata'}]})
    head, sep, _ = content[4:].partition('\n---\n')
    try:
      metadata = yaml.safe_load(head) if sep else None
    except yaml.YAMLError as e:
      metadata = str(e)
    if not isinstance(metadata, dict):
      return Response.json({'errors': [{'message': f'invalid metadata: {metadata!r}'}]}, 400)
    return Response.json({'errors': [], 'warnings': []})

  def create_branch(self, match: re.Match, request: Request) -> Response:
    _, repo = self._writable(match, request)
    branch = unquote(match['branch'])
    if branch in repo.refs:
      return Response.error(409, None, f'Reference already exists: refs/heads/{branch}')
    start = json.loads(request.body or b'{}').get('startingPoint') or 'main'
    commit = repo.resolve(start)
    if commit is None:
      raise HubError(Response.error(404, 'RevisionNotFound', f'Invalid rev id: {start}'))
    repo.refs[branch] = commit
    return Response.json({})

  def preupload(self, match: re.Match, request: Request) -> Response:
    """Every file 'regular' (inline in the commit); `oid` of the same path at `rev`."""
    _, repo = self._writable(match, request)
    files = repo.commits[self._commit(repo, match)]
    answers = [{
        'path': f['path'],
        'uploadMode': 'regular',
        'shouldIgnore': False,
        'oid': git_blob_sha1(files[f['path']]) if f['path'] in files else None
    } for f in json.loads(request.body)['files']]
    return Response.json({'files': answers})

  def commit(self, match: re.Match, request: Request) -> Response:
    """An NDJSON commit (header, file, deletedFile, deletedFolder) onto the branch `rev`."""
    repo_id, repo = self._writable(match, request)
    branch = unquote(match['rev'])
    if branch not in repo.refs:
      raise HubError(Response.error(404, 'RevisionNotFound', f'Invalid rev id: {branch}'))
    files = dict(repo.commits[repo.refs[branch]])
    summary = ''
    for line in request.body.splitlines():
      item = json.loads(line)
      key, value = item['key'], item['value']
      if key == 'header':
        summary = value['summary']
        parent = value.get('parentCommit')
        if parent is not None and parent != repo.refs[branch]:
          return Response.error(412, None, f'Parent commit {parent} is not the head of {branch}')
      elif key == 'file' and value.get('encoding') == 'base64':
        files[value['path']] = base64.b64decode(value['content'])
      elif key == 'deletedFile':
        if files.pop(value['path'], None) is None:
          raise HubError(
              Response.error(404, 'EntryNotFound', "A file with this name doesn't "
                             f"exist: {value['path']}"))
      elif key == 'deletedFolder':
        prefix = value['path'].rstrip('/') + '/'
        files = {p: c for p, c in files.items() if not p.startswith(prefix)}
      else:  # 'lfsFile' and others: never asked for (preupload answers 'regular').
        return Response.error(400, None, f'Unsupported commit operation {key!r}')
    commit = self.add_commit(repo_id, files, branch)
    repo.messages[commit] = summary
    return Response.json({
        'success': True,
        'commitOid': commit,
        'commitUrl': f'{self.endpoint}/{repo_id}/commit/{commit}',
        'hookOutput': ''
    })


def _tree_entry(path: str, content: bytes) -> dict:
  if len(content) < LFS_MIN_SIZE:
    return {'type': 'file', 'path': path, 'size': len(content), 'oid': git_blob_sha1(content)}
  pointer = lfs_pointer(content)
  return {
      'type': 'file',
      'path': path,
      'size': len(content),
      'oid': git_blob_sha1(pointer),
      'lfs': {
          'oid': hashlib.sha256(content).hexdigest(),
          'size': len(content),
          'pointerSize': len(pointer)
      }
  }


def _handler_class(hub: FakeHub) -> type[http.server.BaseHTTPRequestHandler]:

  class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def _serve(self, send_body: bool = True):
      url = urlsplit(self.path)
      length = int(self.headers.get('Content-Length') or 0)
      body = self.rfile.read(length) if length else b''
      request = Request(self.command, url.path, parse_qs(url.query), self.headers, body)
      response = hub.dispatch(request)
      self.send_response(response.status)
      for key, value in response.headers.items():
        self.send_header(key, value)
      self.send_header('Content-Length', str(len(response.body)))
      self.send_header('Connection', 'close')  # No kept-alive sockets outlive `stop()`.
      self.end_headers()
      self.close_connection = True
      if send_body:
        self.wfile.write(response.body)

    def do_GET(self):  # pylint: disable=invalid-name
      self._serve()

    def do_POST(self):  # pylint: disable=invalid-name
      self._serve()

    def do_HEAD(self):  # pylint: disable=invalid-name
      self._serve(send_body=False)

    def log_message(self, *args):  # Quiet.
      pass

  return Handler


# Pointing huggingface_hub at the server ----------------------------------------------------


def client_env(endpoint: str | None,
               home,
               offline: bool = False,
               token: str | None = None) -> dict[str, str]:
  """Environment variables for a subprocess client (endpoint None: a closed port)."""
  return {
      'HF_ENDPOINT': endpoint or 'http://127.0.0.1:9',
      'HF_HOME': str(home),
      'HF_HUB_OFFLINE': '1' if offline else '0',
      'HF_HUB_DISABLE_XET': '1',
      'HF_HUB_DISABLE_TELEMETRY': '1',
      **({
          'HF_TOKEN': token
      } if token else {})
  }


def point_client(monkeypatch,
                 endpoint: str | None,
                 home,
                 offline: bool = False,
                 token: str | None = None) -> None:
  """Points this process's huggingface_hub at `endpoint` with cache under `home`.

  huggingface_hub reads its settings into `constants` at import: the derived ones are
  patched too (and restored by monkeypatch).
  """
  import os  # pylint: disable=import-outside-toplevel

  from huggingface_hub import constants  # pylint: disable=import-outside-toplevel

  env = client_env(endpoint, home, offline, token)
  for key in ('HF_TOKEN', 'HF_HUB_CACHE', 'HF_TOKEN_PATH', 'HF_OIDC_RESOURCE'):
    monkeypatch.delenv(key, raising=False)
  for key, value in env.items():
    monkeypatch.setenv(key, value)
  endpoint = env['HF_ENDPOINT']
  values = {
      'ENDPOINT': endpoint,
      'HUGGINGFACE_CO_URL_TEMPLATE': endpoint + '/{repo_id}/resolve/{revision}/{filename}',
      'HF_HOME': str(home),
      'HF_HUB_CACHE': os.path.join(home, 'hub'),
      'HF_TOKEN_PATH': os.path.join(home, 'token'),
      'HF_STORED_TOKENS_PATH': os.path.join(home, 'stored_tokens'),
      'HF_HUB_OFFLINE': offline,
      'HF_HUB_DISABLE_XET': True
  }
  for name, value in values.items():
    monkeypatch.setattr(constants, name, value)
