"""Every relative link and every command in README.md, ARCHITECTURE.md and docs/ names
something that exists (files, headings, modules, console scripts, config files)."""

from __future__ import annotations

import configparser
import importlib.util
import re

import pytest

from tests.conftest import REPO_ROOT

PAGES = sorted(
    [REPO_ROOT / 'README.md', REPO_ROOT / 'ARCHITECTURE.md', *(REPO_ROOT / 'docs').glob('*.md')])
_LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
_MODULE = re.compile(r'python(?:3(?:\.\d+)?)? -m ([A-Za-z_][\w.]*)')
_SCRIPT = re.compile(r'(?<![\w/-])(wav2sleep-[a-z]+)\b')
_PATH = re.compile(r'`((?:wav2sleep_jax|tests|tfds_builders|launch|docs)/[\w/.-]+\.(?:py|md|sh))')
_CONFIG = re.compile(r'--config=([\w/.-]+\.py)')


def _slug(heading: str) -> str:
  """GitHub's anchor of a heading."""
  text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
  return text.replace(' ', '-')


def _anchors(page) -> set[str]:
  return {_slug(line.lstrip('#')) for line in page.read_text().splitlines() if line.startswith('#')}


def _console_scripts() -> set[str]:
  parser = configparser.ConfigParser()
  parser.read(REPO_ROOT / 'setup.cfg')
  lines = parser['options.entry_points']['console_scripts'].strip().splitlines()
  return {line.split('=')[0].strip() for line in lines}


def test_pages_exist():
  assert len(PAGES) >= 5 and all(p.is_file() for p in PAGES)


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
  bad = []
  for target in _LINK.findall(page.read_text()):
    if re.match(r'[a-z]+:', target):
      continue  # http(s), mailto.
    path, _, anchor = target.partition('#')
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.exists():
      bad.append(target)
    elif anchor and resolved.suffix == '.md' and anchor not in _anchors(resolved):
      bad.append(f'{target} (no such heading)')
  assert not bad, f'{page.name}: {bad}'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_commands_and_paths_exist(page):
  text = page.read_text()
  modules = {m for m in _MODULE.findall(text) if not m.split('.')[-1].isupper()}  # NAME.
  bad = [f'python -m {m}' for m in sorted(modules) if importlib.util.find_spec(m) is None]
  scripts = _console_scripts()
  bad += [s for s in sorted(set(_SCRIPT.findall(text))) if s not in scripts]
  bad += [
      p for p in sorted(set(_PATH.findall(text)) | set(_CONFIG.findall(text)))
      if not (REPO_ROOT / p).exists()
  ]
  assert not bad, f'{page.name} names what does not exist: {bad}'
