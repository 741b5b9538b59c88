r"""Publish a model on the Hugging Face Hub (console script `wav2sleep-hub`).

  wav2sleep-hub push RUN_OR_MODEL namespace/name [--reference_format] [--private] \
      [--revision=BRANCH] [--message=TEXT]
  python -m wav2sleep_jax.hub push ...   (the same)

RUN_OR_MODEL is a training run's WORKDIR (its model/ and metrics.json) or a
wav2sleep_jax model folder. The repo gets the model, a README.md model card and,
with --reference_format, config.yaml + state_dict.pth for the reference's loader;
`hf://namespace/name` then loads it wherever a model path goes. The token is
HF_TOKEN (or `hf auth login`). The library is `wav2sleep_jax.inference.publishing`.
"""

from __future__ import annotations

from absl import app
from absl import flags
from absl import logging

from wav2sleep_jax.core import cli
from wav2sleep_jax.inference import publishing

USAGE = ('usage: wav2sleep-hub push RUN_OR_MODEL namespace/name [--reference_format] '
         '[--private] [--revision=BRANCH] [--message=TEXT]')


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_bool(
      'reference_format', False, "Also upload config.yaml + state_dict.pth (the "
      "reference's format); refused if the model has a setting it lacks.")
  flags.DEFINE_bool('private', False, 'Create the repo private (an existing repo keeps its '
                    'visibility).')
  flags.DEFINE_string(
      'revision', None, 'Branch to push to (created from the default branch '
      'when missing; default: the default branch).')
  flags.DEFINE_string('message', None, 'Commit message.')


def main(argv):
  args = argv[1:]
  if not args or args[0] != 'push':
    raise app.UsageError(f'unknown action {args[0]!r}; {USAGE}' if args else USAGE)
  if len(args) != 3:
    raise app.UsageError(f'push takes RUN_OR_MODEL and namespace/name; {USAGE}')
  cli.quiet_orbax()
  logging.set_verbosity(logging.WARNING)  # Progress bars and results, not INFO logs.
  fl = flags.FLAGS
  _, source, repo_id = args
  commit = publishing.push(
      source,
      repo_id,
      reference_format=fl.reference_format,
      private=fl.private,
      revision=fl.revision,
      commit_message=fl.message)
  where = repo_id if fl.revision is None else f'{repo_id}@{fl.revision}'
  print(f'Pushed {source} to {publishing.repo_url(repo_id)} (commit {commit}); '
        f'load it as hf://{where}.')


def run():
  """Console script `wav2sleep-hub`."""
  define_flags()
  cli.run(main, positional=True)


if __name__ == '__main__':
  run()
