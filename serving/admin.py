"""The admin API: who may call it, and what each call does.

Every admin call needs `Authorization: Bearer <token>`, compared in constant
time. The token is given (`--admin-token-file`, $SERVING_ADMIN_TOKEN) or
generated at start and written to a file only its owner can read, whose path
the server prints. POSTs must be `Content-Type: application/json`: a web page
in a local browser can send a cross-site form POST without asking, but not a
JSON one. The admin API can listen on its own address and port.

  GET  /v1/admin/models/{name}/routing          labels, canary weight, shadow, versions
  POST /v1/admin/models/{name}/labels           {"labels": {"stable": 1, "canary": 2, "old": null}}
                                                or {"label": "canary", "version": 2}
  POST /v1/admin/models/{name}/canary           {"version": 2, "weight": 10, "lease_seconds": 60}
                                                (each key optional; with a lease the
                                                weight falls back to 0 unless renewed)
  POST /v1/admin/models/{name}/shadow           {"version": 2}  ({"version": null} stops it)
  POST /v1/admin/models/{name}/promote          {"version": 2}  (blue-green; default: the canary)
  POST /v1/admin/models/{name}/abort_canary     canary weight 0, canary label removed
  POST /v1/admin/models/{name}/rollback         restore the routing before the last change
  POST /v1/admin/models/{name}/reject           {"version": 2, "reason": "..."}: never serve it
  POST /v1/admin/models/{name}/automation       {"level": "partial"}: shadow | assist | partial |
                                                full (409 if a serving version has no band)
  POST /v1/admin/models/{name}/scan             load new version directories
  POST /v1/admin/models/{name}/versions/{v}:load | :unload
"""

import hmac
import os
import re
import secrets
from typing import Any, Optional, Tuple

from serving.automation import LEVELS, NoBandError
from serving.model_store import ModelLoadError
from serving.responses import Response, error
from serving.router import PersistError, RoutingError, parse_version

import durable

TOKEN_ENV = 'SERVING_ADMIN_TOKEN'
TOKEN_FILE_NAME = 'admin.token'

ADMIN_RE = re.compile(
    r'^/v1/admin/models/(?P<name>[^/:]+)'
    r'(?:/(?P<action>routing|labels|canary|shadow|promote|rollback|abort_canary|reject|scan'
    r'|automation)'
    r'|/versions/(?P<version>[^/:]+):(?P<vaction>load|unload))/?$')


def ensure_token(token: Optional[str], token_file: Optional[str],
                 default_dir: str) -> Tuple[str, Optional[str]]:
  """(token, file it was written to or read from). A given token wins; else an
  existing token file is read; else a new token is generated into it (0600)."""
  if token:
    return token, None
  path = token_file or os.path.join(default_dir, TOKEN_FILE_NAME)
  if token_file and os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      existing = f.read().strip()
    if existing:
      return existing, path
  token = secrets.token_urlsafe(32)
  durable.write_text(path, token + '\n')
  return token, path


def check_request(token: str, authorization: Optional[str], method: str,
                  content_type: Optional[str]) -> Optional[Response]:
  """None if the call may proceed, else the refusal."""
  given = ''
  if authorization and authorization[:7].lower() == 'bearer ':
    given = authorization[7:].strip()
  if not given or not hmac.compare_digest(given.encode('utf-8', 'replace'),
                                          token.encode('utf-8')):
    return Response(401, {'error': 'admin calls need the header "Authorization: Bearer '
                                   '<token>" with the server\'s admin token'},
                    {'WWW-Authenticate': 'Bearer'})
  if method == 'POST':
    media = (content_type or '').split(';')[0].strip().lower()
    if media != 'application/json':
      return error(415, f'admin calls need "Content-Type: application/json", got '
                        f'{media or "none"!r}')
  return None


def dispatch(app: Any, name: str, m: 're.Match', body: Any) -> Response:
  """Runs one admin POST on `app` (a ModelServer)."""
  if not isinstance(body, dict):
    return error(400, 'admin request body must be a JSON object')
  try:
    if m['vaction']:
      return _version_action(app, name, m['vaction'], m['version'])
    action = m['action']
    if action == 'scan':
      result = app.scan(name)[name]
      out = app.routing_json(name)
      out['scan'] = result.to_json()
      return Response(200, out)
    refusal = _routing_action(app, name, action, body)
    if refusal is not None:
      return refusal
  except NoBandError as e:
    return error(409, str(e))
  except RoutingError as e:
    return error(400, str(e))
  except PersistError as e:
    return error(503, str(e))
  return Response(200, app.routing_json(name))


def _version_action(app: Any, name: str, vaction: str, version_text: str) -> Response:
  version = parse_version(version_text, vaction)
  if vaction == 'load':
    try:
      app.load_version(name, version)
    except ModelLoadError as e:
      return error(422, f'version {version} of model "{name}" failed to load and '
                        f'is not serving: {e}')
    return Response(200, app.routing_json(name))
  try:
    app.unload_version(name, version)
  except KeyError:
    return error(404, f'version {version} of model "{name}" is not loaded')
  except RoutingError as e:
    return error(409, str(e))
  return Response(200, app.routing_json(name))


def _routing_action(app: Any, name: str, action: str, body: dict) -> Optional[Response]:
  if action == 'labels':
    if 'labels' in body:
      if not isinstance(body['labels'], dict):
        return error(400, '"labels" must be an object of label -> version (or null)')
      app.set_labels(name, body['labels'])
    elif 'label' in body:
      if 'version' not in body:
        return error(400, '"label" needs "version" (null removes the label)')
      app.set_labels(name, {body['label']: body['version']})
    else:
      return error(400, 'expected {"labels": {...}} or {"label": ..., "version": ...}')
  elif action == 'canary':
    if 'version' not in body and 'weight' not in body:
      return error(400, 'expected "version" and/or "weight" (percent 0..100)')
    app.set_canary(name, body.get('version'), body.get('weight'), body.get('lease_seconds'))
  elif action == 'shadow':
    if 'version' not in body:
      return error(400, 'expected "version" (null stops shadowing)')
    app.set_shadow(name, body['version'])
  elif action == 'promote':
    app.promote(name, body.get('version'))
  elif action == 'abort_canary':
    app.abort_canary(name)
  elif action == 'rollback':
    app.rollback(name)
  elif action == 'automation':
    if 'level' not in body:
      return error(400, f'expected "level" (one of {list(LEVELS)})')
    app.set_automation_level(name, body['level'])
  elif action == 'reject':
    if 'version' not in body:
      return error(400, 'expected "version" (and a "reason")')
    app.reject(name, body['version'], str(body.get('reason') or 'rejected by an operator'))
  else:
    return error(404, f'unknown admin action {action}')
  return None
