"""One task as the KFP driver and launcher prepare it: its ExecutorInput, its
command line with KFP's placeholders substituted, and its outputs merged from
the executor-output file. Pure functions over dicts; local_backend.py runs them.
"""

import dataclasses
import json
import os
import re
from typing import Any, Dict, List

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow_support import ir


@dataclasses.dataclass
class PodInput:
  """What the KFP driver hands one task."""
  executor_input: Dict[str, Any]
  outputs: Dict[str, Dict[str, Any]]        # key -> {'artifacts': [runtime artifact]}
  output_parameters: Dict[str, Dict[str, str]]  # key -> {'outputFile': path}
  output_file: str


def dockerfile_env(path: str) -> Dict[str, str]:
  """The ENV of a Dockerfile's final stage: what every task's process sees."""
  env: Dict[str, str] = {}
  with open(path) as f:
    text = re.sub(r'\\\n', ' ', f.read())
  for line in text.splitlines():
    line = line.strip()
    if line.upper().startswith('FROM '):
      env = {}
    elif line.upper().startswith('ENV '):
      body = line[4:].strip()
      if '=' not in body.split()[0]:
        key, _, value = body.partition(' ')
        env[key] = value.strip()
        continue
      for item in re.findall(r'(\w+)=("[^"]*"|\S+)', body):
        env[item[0]] = item[1].strip('"')
  return env


def placeholder_text(value: Any) -> str:
  """How the launcher prints a parameter into a command line."""
  if isinstance(value, bool):
    return 'true' if value else 'false'
  if isinstance(value, float) and value.is_integer():
    return str(int(value))
  if isinstance(value, (list, dict)):
    return json.dumps(value, separators=(',', ':'))
  return str(value)


def pod_input(component: Dict[str, Any], pod_dir: str, output_root: str,
              parameter_values: Dict[str, Any],
              input_artifacts: Dict[str, Dict[str, Any]]) -> PodInput:
  """The ExecutorInput, with output URIs provisioned under `output_root`."""
  definitions = component.get('outputDefinitions', {})
  outputs = {}
  for key, spec in definitions.get('artifacts', {}).items():
    outputs[key] = {'artifacts': [{
        'uri': os.path.join(output_root, key),
        'type': spec['artifactType'],
        'metadata': spec.get('metadata', {})}]}
  output_params = {
      key: {'outputFile': os.path.join(pod_dir, 'tmp', 'kfp', 'outputs', key)}
      for key in definitions.get('parameters', {})}
  output_file = os.path.join(pod_dir, 'tmp', 'kfp_outputs', 'output_metadata.json')
  executor_input = {
      'inputs': {'parameterValues': parameter_values, 'artifacts': input_artifacts},
      'outputs': {'artifacts': outputs, 'parameters': output_params,
                  'outputFile': output_file}}
  # Round-trips through the proto: what the driver hands over is a valid
  # ExecutorInput, serialized as protojson would.
  message = json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())
  return PodInput(json_format.MessageToDict(message), outputs, output_params, output_file)


def provision(pod: PodInput) -> None:
  """Creates the directories a pod's outputs go to.

  On object storage every prefix of an output URI already "exists" (and TFX's
  own launcher creates these directories); a local directory has to.
  """
  for spec in pod.output_parameters.values():
    os.makedirs(os.path.dirname(spec['outputFile']), exist_ok=True)
  for listing in pod.outputs.values():
    os.makedirs(listing['artifacts'][0]['uri'], exist_ok=True)


def command_line(task_name: str, container: Dict[str, Any], pod: PodInput,
                 parameter_values: Dict[str, Any]) -> List[str]:
  """The container's command and args with every KFP placeholder substituted."""
  placeholders = {'{{$}}': json.dumps(pod.executor_input, separators=(',', ':'))}
  inputs = pod.executor_input['inputs'].get('artifacts', {})
  for direction, listings in (('inputs', inputs), ('outputs', pod.outputs)):
    for key, listing in listings.items():
      uri = listing['artifacts'][0]['uri']
      for field in ('uri', 'path'):
        placeholders["{{$.%s.artifacts['%s'].%s}}" % (direction, key, field)] = uri
  for key, value in parameter_values.items():
    placeholders["{{$.inputs.parameters['%s']}}" % key] = placeholder_text(value)
  for key, spec in pod.output_parameters.items():
    placeholders["{{$.outputs.parameters['%s'].output_file}}" % key] = spec['outputFile']
  argv = list(container.get('command', [])) + list(container.get('args', []))
  for i, arg in enumerate(argv):
    for placeholder, value in placeholders.items():
      arg = arg.replace(placeholder, value)
    if '{{$' in arg:
      raise ir.IncompatibleError(
          f'task {task_name}: placeholder left unresolved in {arg[:200]!r}')
    argv[i] = arg
  if not argv:
    raise ir.IncompatibleError(f'task {task_name}: empty command (image ENTRYPOINT)')
  return argv


def read_executor_output(pod: PodInput) -> Dict[str, Any]:
  if not os.path.exists(pod.output_file):
    return {}
  with open(pod.output_file) as f:
    executor_output = json.load(f)
  json_format.ParseDict(executor_output, pipeline_spec_pb2.ExecutorOutput())
  return executor_output


def merged_outputs(pod: PodInput, executor_output: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
  """Output artifacts with what the executor reported merged in (mergeRuntimeArtifacts):
  a non-empty URI replaces, metadata fields overlay."""
  recorded = {}
  for key, listing in pod.outputs.items():
    artifact = dict(listing['artifacts'][0])
    artifact['metadata'] = dict(artifact.get('metadata', {}))
    reported = executor_output.get('artifacts', {}).get(key, {}).get('artifacts', [])
    if reported:
      if reported[0].get('uri'):
        artifact['uri'] = reported[0]['uri']
      artifact['metadata'].update(reported[0].get('metadata', {}))
    recorded[key] = artifact
  return recorded


def output_parameters(pod: PodInput, executor_output: Dict[str, Any]) -> Dict[str, Any]:
  """Reported parameter values, else the contents of each parameter's output file."""
  values = dict(executor_output.get('parameterValues', {}))
  for key, spec in pod.output_parameters.items():
    if key not in values:
      with open(spec['outputFile']) as f:
        values[key] = f.read()
  return values
