"""What a task pod runs before TFX's KFP v2 entrypoint, where KFP needs help.

  python -m kubeflow_support.launch [--driver MODULE] [--empty-input KEY ...] \\
      [--lookup-input KEY ...] --executor MODULE -- ARGS...

ARGS are the task's own arguments (`{{$}}` already substituted by the KFP
launcher); MODULE programs are TFX's own entrypoints, run as separate processes.

--driver: TFX compiles FileBasedExampleGen (CsvExampleGen) with a
`preCacheCheck` lifecycle hook that runs its driver. On Vertex AI the service
runs it, merges the output-artifact metadata the driver reports (span,
version, input fingerprint) into the task's outputs, then runs the executor,
which also reads the driver's parameters (the span, the resolved split
pattern) from the executor-output file the driver wrote. The open-source KFP
backend never runs lifecycle hooks (kubeflow_support/ir.py), so this does the same in
the pod.

--empty-input: an optional input whose producer KFP cannot run (a Resolver)
is removed from the compiled task, and KFP then passes no key for it at all.
TFX's own orchestrator passes an empty list when a resolver finds nothing, and
executors index the key (TFX's DistributionValidator does:
`input_dict['baseline_statistics']`), so the key is restored, empty.

--lookup-input: an input fed by a lookup task (components/baseline_lookup),
which answers a resolver's question on KFP. A KFP task always produces its
outputs, so a lookup that found nothing publishes an artifact marked
found = 0; it reaches the executor as an empty list, as a resolver's empty
answer does under TFX's own orchestrator.
"""

import argparse
import json
import os
import subprocess
import sys
from typing import List, Tuple

from metadata import type_names

INVOCATION_FLAG = '--json_serialized_invocation_args'
# From type_names, not artifacts: this launcher runs before every such task
# and must not import TFX or TensorFlow.
FOUND = type_names.FOUND


def _split_invocation(args: List[str]) -> Tuple[int, str]:
  """Index and value of the executor-input JSON among the task arguments."""
  for i, arg in enumerate(args):
    if arg == INVOCATION_FLAG and i + 1 < len(args):
      return i + 1, args[i + 1]
    if arg.startswith(INVOCATION_FLAG + '='):
      return i, arg.split('=', 1)[1]
  raise SystemExit(f'kubeflow_support.launch: {INVOCATION_FLAG} not found in the task arguments')


def merge_driver_output(executor_input: dict, driver_output: dict) -> dict:
  """The executor input with the driver's output-artifact metadata merged in.

  The same merge the KFP launcher applies to executor outputs
  (mergeRuntimeArtifacts): a non-empty URI replaces, metadata fields overlay.
  """
  outputs = executor_input.setdefault('outputs', {}).setdefault('artifacts', {})
  for key, reported in driver_output.get('artifacts', {}).items():
    targets = outputs.get(key, {}).get('artifacts', [])
    for target, source in zip(targets, reported.get('artifacts', [])):
      if source.get('uri'):
        target['uri'] = source['uri']
      target.setdefault('metadata', {}).update(source.get('metadata', {}))
  return executor_input


def add_empty_inputs(executor_input: dict, keys: List[str]) -> dict:
  artifacts = executor_input.setdefault('inputs', {}).setdefault('artifacts', {})
  for key in keys:
    artifacts.setdefault(key, {'artifacts': []})
  return executor_input


def drop_not_found(executor_input: dict, keys: List[str]) -> dict:
  """Lookup outputs marked found = 0 become empty inputs."""
  artifacts = executor_input.get('inputs', {}).get('artifacts', {})
  for key in keys:
    listing = artifacts.get(key, {}).get('artifacts', [])
    if listing and all(a.get('metadata', {}).get(FOUND) == 0 for a in listing):
      artifacts[key] = {'artifacts': []}
  return executor_input


def _read(path: str) -> str:
  if '://' in path:  # Vertex gives a gs:// output file; KFP a local one
    from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
    with fileio.open(path, 'r') as f:
      return f.read()
  with open(path) as f:
    return f.read()


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--driver', help='driver module to run first (python -m)')
  parser.add_argument('--empty-input', action='append', default=[], metavar='KEY',
                      help='an input key to pass as an empty artifact list')
  parser.add_argument('--lookup-input', action='append', default=[], metavar='KEY',
                      help='an input from a lookup task: empty when it found nothing')
  parser.add_argument('--executor', required=True, help='executor entrypoint module')
  parser.add_argument('args', nargs=argparse.REMAINDER,
                      help='-- then the task arguments')
  parsed = parser.parse_args(argv)
  args = list(parsed.args[1:] if parsed.args[:1] == ['--'] else parsed.args)

  index, invocation = _split_invocation(args)
  executor_input = json.loads(invocation)
  if parsed.driver:
    output_file = executor_input.get('outputs', {}).get('outputFile')
    if not output_file:
      raise SystemExit('kubeflow_support.launch: the executor input has no outputs.outputFile')
    driver = subprocess.run([sys.executable, '-m', parsed.driver] + args, check=False)
    if driver.returncode != 0:
      print(f'kubeflow_support.launch: driver {parsed.driver} failed with exit code '
            f'{driver.returncode}', file=sys.stderr)
      return driver.returncode
    merge_driver_output(executor_input, json.loads(_read(output_file)))
  add_empty_inputs(executor_input, parsed.empty_input)
  drop_not_found(executor_input, parsed.lookup_input)

  if args[index].startswith(INVOCATION_FLAG + '='):
    args[index] = f'{INVOCATION_FLAG}={json.dumps(executor_input)}'
  else:
    args[index] = json.dumps(executor_input)
  sys.stdout.flush()
  sys.stderr.flush()
  # The executor replaces this process, so the pod's exit code is its own.
  os.execv(sys.executable, [sys.executable, '-m', parsed.executor] + args)
  return 0  # not reached


if __name__ == '__main__':
  sys.exit(main())
