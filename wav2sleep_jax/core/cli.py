"""Command-line conventions shared by every command.

- Usage and input errors: one line `error: ...` on stderr, exit code 2, no traceback.
- Partial failure (some items skipped): a summary, exit code 1 (the command returns it).
- Anything else is a bug and keeps its traceback.

A command's module calls `cli.run(main, errors=(...))` instead of `app.run(main)`,
naming the exception types that mean "bad input" for it.
"""

from __future__ import annotations

import sys
from typing import Callable, NoReturn, Sequence

from absl import app
from absl import flags

EXIT_PARTIAL = 1
EXIT_USAGE = 2


class InputError(ValueError):
  """Bad user input (file, flag value, config): reported as one line, exit 2."""


def quiet_orbax() -> None:
  """Drops Orbax's INFO records (a line per checkpoint step) from the absl log: the one
  way commands quiet it."""
  from absl import logging  # pylint: disable=import-outside-toplevel

  logging.get_absl_handler().addFilter(lambda record: 'orbax' not in record.pathname)


def fail(message: object) -> NoReturn:
  """Print `error: MESSAGE` (first line only) on stderr and exit with code 2."""
  text = ' '.join(str(message).split('\n')[0].split()) or type(message).__name__
  print(f'error: {text}', file=sys.stderr)
  sys.exit(EXIT_USAGE)


def _parse_flags(argv: Sequence[str]) -> list[str]:
  try:
    return flags.FLAGS(list(argv))
  except flags.Error as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(':'):  # e.g. a config file's error below.
      fail(f'{lines[0]} {lines[-1]}')
    fail(e)


def run(main: Callable[[list[str]], int | None],
        errors: tuple[type[BaseException], ...] = (),
        positional: bool = False) -> None:
  """`app.run(main)` with one-line usage/input errors and exit code 2.


  Args:
    main: the absl main; returns an exit code (None = 0).
    errors: exception types raised by the command's libraries for bad input
      (InputError, app.UsageError and missing files are always included).
    positional: the command takes positional arguments; otherwise they are a
      usage error.
  """
  reported = (InputError, app.UsageError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
              PermissionError) + tuple(errors)

  def guarded(argv):
    if len(argv) > 1 and not positional:
      fail(f'Unexpected arguments: {" ".join(argv[1:])}')
    try:
      return main(argv)
    except reported as e:
      fail(e)

  app.run(guarded, flags_parser=_parse_flags)
