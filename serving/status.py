"""TF Serving's status and metadata answers for one served model."""

from typing import Optional, Tuple

from serving import router as router_lib
from serving.predictor import ServedModel, unavailable_message
from serving.responses import Response, error


def _resolve(served: ServedModel, version: Optional[int], label: Optional[str],
             latest: Optional[int]) -> Tuple[Optional[int], Optional[Response]]:
  """Version addressed by a URL (default: stable, else the newest routable)."""
  if version is not None:
    return version, None
  if label is not None:
    v = served.router.label_version(label)
    if v is None:
      return None, error(404, f'model "{served.name}" has no version labelled "{label}"')
    return v, None
  v = served.router.label_version(router_lib.STABLE)
  return (v if v is not None else latest), None


def status(served: Optional[ServedModel], name: str, version: Optional[int],
           label: Optional[str], latest: Optional[int]) -> Response:
  if served is None:
    return error(404, f'Servable not found for request: model "{name}" is not served')
  if version is None and label is None:
    statuses = served.store.statuses()
    if not statuses:
      return error(404, f'model "{name}" has no versions in its model directory')
    return Response(200, {'model_version_status': [s.to_json() for s in statuses]})
  v, err = _resolve(served, version, label, latest)
  if err:
    return err
  st = served.store.status(v) if v is not None else None
  if st is None:
    return error(404, f'Servable not found for request: version {v} of model "{name}"')
  return Response(200, {'model_version_status': [st.to_json()]})


def metadata(served: Optional[ServedModel], name: str, version: Optional[int],
             label: Optional[str], latest: Optional[int]) -> Response:
  if served is None:
    return error(404, f'Servable not found for request: model "{name}" is not served')
  v, err = _resolve(served, version, label, latest)
  if err:
    return err
  if v is None:
    return error(503, f'model "{name}" has no available version')
  model = served.store.get(v)
  if model is None:
    return error(404, unavailable_message(served, v))
  return Response(200, {
      'model_spec': {'name': name, 'signature_name': '', 'version': str(v)},
      'metadata': model.metadata_json(),
  })
