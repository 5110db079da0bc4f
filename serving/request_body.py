"""A request's body and URL as the server reads them: JSON within the limits
(depth, non-finite literals), versions in ASCII digits. Every problem is a
RequestError naming it (400, or 404 for a version that cannot exist)."""

import json
import urllib.parse
from typing import Any, Optional, Tuple

from serving.config import Limits
from serving.rest_codec import RequestError


class _NonFinite(ValueError):
  pass


def parse_json(raw: bytes, limits: Limits) -> Any:
  """A request body as JSON; RequestError (400) for anything malformed."""
  if not raw.strip():
    raise RequestError('empty request body; expected a JSON object')
  try:
    text = raw.decode('utf-8')
  except UnicodeDecodeError as e:
    raise RequestError(f'request body is not UTF-8 (byte {e.start})') from None

  def constant(name: str) -> Any:
    if limits.allow_non_finite:
      return None  # treated as a missing value
    raise _NonFinite(name)

  try:
    body = json.loads(text, parse_constant=constant)
  except _NonFinite as e:
    raise RequestError(f'{e} is not valid JSON and not a number the model can use; send '
                       f'null for a missing value (or start the server with '
                       f'--allow-non-finite to read NaN/Infinity as missing)') from None
  except RecursionError:
    raise RequestError(f'JSON nested deeper than {limits.max_json_depth} levels '
                       f'(max_json_depth)') from None
  except ValueError as e:
    raise RequestError(f'malformed JSON in request body: {e}') from None
  # Brackets can only nest as deep as there are brackets: most bodies skip the walk.
  if raw.count(b'[') + raw.count(b'{') > limits.max_json_depth:
    if _depth_exceeds(body, limits.max_json_depth):
      raise RequestError(f'JSON nested deeper than {limits.max_json_depth} levels '
                         f'(max_json_depth)')
  return body


def _depth_exceeds(value: Any, limit: int) -> bool:
  stack = [(value, 1)]
  while stack:
    item, depth = stack.pop()
    if isinstance(item, dict):
      children = item.values()
    elif isinstance(item, list):
      children = item
    else:
      continue
    if depth > limit:
      return True
    stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
  return False


def version_and_label(m: 're.Match') -> Tuple[Optional[int], Optional[str]]:
  """The version or label a model URL names; RequestError(404) for a bad version."""
  version = label = None
  if m['version'] is not None:
    text = m['version']
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) == 0:
      raise RequestError(f'version must be a positive integer written in ASCII digits, '
                         f'got {text[:40]!r}', 404)
    version = int(text)
  if m['label'] is not None:
    label = urllib.parse.unquote(m['label'])
  return version, label
