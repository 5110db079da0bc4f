"""Submits a compiled definition as a run through kfp.Client, and waits for it."""

import sys
from kubeflow_support import settings


def submit(args, path: str, name: str, pipeline_root: str) -> int:
  """Starts a run of `path`; with --wait, 0 only if it succeeded."""
  import kfp  # pylint: disable=g-import-not-at-top
  import kfp_server_api  # pylint: disable=g-import-not-at-top
  import urllib3  # pylint: disable=g-import-not-at-top

  experiment = args.experiment or name
  try:
    client = kfp.Client(host=args.host, namespace=args.namespace)
    result = client.create_run_from_pipeline_package(
        path,
        arguments=settings.run_parameters(args.param),
        run_name=args.run_name,
        experiment_name=experiment,
        namespace=args.namespace,
        pipeline_root=pipeline_root)
    print(f'Submitted run {result.run_id} to {args.host} (experiment {experiment}): '
          f'{args.host.rstrip("/")}/#/runs/details/{result.run_id}', flush=True)
    if args.wait is None:
      return 0
    run = client.wait_for_run_completion(result.run_id, timeout=args.wait)
  except (kfp_server_api.ApiException, urllib3.exceptions.HTTPError,
          TimeoutError, ConnectionError) as e:
    print(f'kubeflow_runner.py: the KFP API at {args.host} refused or did not '
          f'answer: {str(e).strip()[:2000]}', file=sys.stderr)
    return 1
  state = str(run.state)
  print(f'Run {result.run_id} finished: {state}')
  return 0 if state.upper() == 'SUCCEEDED' else 1
