"""Size and naming rules of the source tree (issue 14): no function over 80 lines, no two
modules with the same file name."""

from __future__ import annotations

import ast
import collections
import pathlib
import re

import wav2sleep_jax.core

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_PACKAGES = ('wav2sleep_jax', 'tfds_builders')
MAX_FUNCTION_LINES = 80


def _sources():
  for package in _PACKAGES:
    yield from sorted((_ROOT / package).rglob('*.py'))


def long_functions(limit: int = MAX_FUNCTION_LINES) -> list[str]:
  """'path:line name (N lines)' of every function or method longer than `limit` lines."""
  found = []
  for path in _sources():
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        lines = node.end_lineno - node.lineno + 1
        if lines > limit:
          rel = path.relative_to(_ROOT).as_posix()
          found.append(f'{rel}:{node.lineno} {node.name} ({lines} lines)')
  return found


def test_no_function_is_over_80_lines():
  assert not long_functions(), long_functions()


def _legend_letters() -> set[str]:
  legend = wav2sleep_jax.core.__doc__.split('Shape legend')[1]
  return set(re.findall(r'(?<![A-Za-z_`])([A-Z])(?![A-Za-z_])', legend))


def test_shape_suffixes_follow_the_one_legend():
  letters = _legend_letters()
  assert set('BSTFMK') <= letters
  breaking = set()
  for path in _sources():
    for node in ast.walk(ast.parse(path.read_text())):
      name = getattr(node, 'id', None) or getattr(node, 'arg', None)
      match = re.fullmatch(r'[a-z][a-z0-9_]*_([A-Z]{1,6})', name or '')
      if match and set(match.group(1)) - letters:
        breaking.add(f'{path.relative_to(_ROOT).as_posix()}: {name}')
  assert not breaking, sorted(breaking)


# Package -> level; a module may import its own package and lower levels only
# (ARCHITECTURE.md, "Dependency direction"). Top-level modules are the commands.
_LEVELS = {
    'core': 0,
    'models': 1,
    'psg': 1,
    'data': 1,
    'synthetic': 1,
    'evaluation': 2,
    'builders': 2,
    'configs': 2,
    'training': 3,
    'inference': 3,
    'benchmarks': 4
}
_COMMAND_LEVEL = 5


def _imported(tree: ast.AST):
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module:
      yield node.module
      yield from (f'{node.module}.{a.name}' for a in node.names)
    elif isinstance(node, ast.Import):
      yield from (a.name for a in node.names)


def test_imports_point_down_the_layers():
  package_dir = _ROOT / 'wav2sleep_jax'
  upward = set()
  for path in sorted(package_dir.rglob('*.py')):
    parts = path.relative_to(package_dir).parts
    if parts == ('__init__.py',):
      continue  # The public API re-exports the libraries.
    source = parts[0] if len(parts) > 1 else path.stem
    level = _LEVELS.get(source, _COMMAND_LEVEL)
    if level == _COMMAND_LEVEL:
      continue  # Commands sit on top (benchmark reuses train's --config flag).
    for module in _imported(ast.parse(path.read_text())):
      names = module.split('.')
      if names[0] != 'wav2sleep_jax' or len(names) < 2 or names[1] == source:
        continue
      target = _LEVELS.get(names[1], _COMMAND_LEVEL if names[1] in _commands() else None)
      if target is not None and target >= level:
        upward.add(f'{path.relative_to(_ROOT).as_posix()} imports {module}')
  assert not upward, sorted(upward)


def _commands() -> set[str]:
  return {p.stem for p in (_ROOT / 'wav2sleep_jax').glob('*.py') if p.stem != '__init__'}


def test_no_two_modules_share_a_file_name():
  by_name = collections.defaultdict(list)
  for path in _sources():
    if path.name != '__init__.py':
      by_name[path.name].append(path.relative_to(_ROOT).as_posix())
  assert not {n: p for n, p in by_name.items() if len(p) > 1}


if __name__ == '__main__':
  print('\n'.join(long_functions()) or 'no function over 80 lines')
