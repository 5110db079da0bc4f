"""TF Serving REST (JSON) request decoding and response encoding.

Follows https://www.tensorflow.org/tfx/serving/api_rest:

* row format: ``{"instances": [{"f1": v, "f2": v}, ...]}`` or, for a signature
  with one input, ``{"instances": [v, v, ...]}`` -> ``{"predictions": [...]}``
  (one dict per row, or one value per row when the signature has one output);
* columnar format: ``{"inputs": {"f1": [...], "f2": [...]}}`` (or a bare list
  for a one-input signature) -> ``{"outputs": {...}}`` (or a bare list when
  the signature has one output);
* binary strings as ``{"b64": "..."}``.

Project conventions on top of it: JSON null becomes NaN for float inputs and ""
for string inputs (the model contract's "missing"); null is refused for int and
bool inputs. Non-finite floats in outputs are written as null so the answer is
strict JSON. Every problem raises `RequestError` with a message naming the
input, the instance index and what was expected.
"""

import base64
import binascii
import dataclasses
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

FLOAT_KINDS = ('float16', 'float32', 'float64', 'bfloat16')
INT_KINDS = ('int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64')


class RequestError(ValueError):
  """The request is malformed; `status` is the HTTP code to answer with."""

  def __init__(self, message: str, status: int = 400):
    super().__init__(message)
    self.status = status


@dataclasses.dataclass(frozen=True)
class TensorInfo:
  """One input or output of a signature: numpy-ish dtype name and shape."""
  name: str
  dtype: str  # 'float32', 'int64', 'string', 'bool', ...
  shape: Tuple[Optional[int], ...]  # None = unknown dim; () with rank None = unknown rank
  rank_known: bool = True

  @property
  def np_dtype(self):
    if self.dtype == 'string':
      return object
    if self.dtype == 'bfloat16':
      return np.float32
    return np.dtype(self.dtype)


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
  name: str
  inputs: Dict[str, TensorInfo]
  outputs: Dict[str, TensorInfo]


@dataclasses.dataclass
class DecodedRequest:
  """A request turned into arrays, plus what the response needs."""
  signature_name: str
  tensors: Dict[str, np.ndarray]
  row_format: bool
  batch_size: int
  # Per-row values of `key_field` taken out of the instances (not model inputs).
  row_keys: Optional[List[Optional[str]]] = None


def _type_name(value: Any) -> str:
  if value is None:
    return 'null'
  if isinstance(value, bool):
    return 'boolean'
  if isinstance(value, (int, float)):
    return 'number'
  if isinstance(value, str):
    return 'string'
  if isinstance(value, list):
    return 'list'
  if isinstance(value, dict):
    return 'object'
  return type(value).__name__


def _convert_scalar(value: Any, info: TensorInfo, where: str) -> Any:
  kind = info.dtype
  if isinstance(value, dict):
    if kind == 'string' and set(value) == {'b64'} and isinstance(value['b64'], str):
      try:
        return base64.b64decode(value['b64'], validate=True)
      except (binascii.Error, ValueError) as e:
        raise RequestError(f'{where}: invalid base64 in {{"b64": ...}}: {e}') from e
    raise RequestError(
        f'{where}: expected a {kind} value, got an object'
        + (' (only {"b64": "..."} objects are allowed for strings)'
           if kind == 'string' else ''))
  if kind in FLOAT_KINDS:
    if value is None:
      return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise RequestError(f'{where}: expected a number (or null) for {kind} input, '
                         f'got {_type_name(value)} {_short(value)}')
    try:
      number = float(value)
    except OverflowError:
      raise RequestError(f'{where}: the number {_short(value)} is too large for a '
                         f'{kind} input') from None
    if not math.isfinite(number):
      raise RequestError(f'{where}: the number {_short(value)} is not finite; send null '
                         f'for a missing value')
    return number
  if kind == 'string':
    if value is None:
      return b''
    if not isinstance(value, str):
      raise RequestError(f'{where}: expected a string (or null) for string input, '
                         f'got {_type_name(value)} {_short(value)}')
    return value.encode('utf-8')
  if kind in INT_KINDS:
    if isinstance(value, float) and value.is_integer():
      value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
      raise RequestError(f'{where}: expected an integer for {kind} input, '
                         f'got {_type_name(value)} {_short(value)}')
    return value
  if kind == 'bool':
    if not isinstance(value, bool):
      raise RequestError(f'{where}: expected true/false for bool input, '
                         f'got {_type_name(value)} {_short(value)}')
    return value
  raise RequestError(f'{where}: inputs of dtype {kind} are not supported over REST')


def _short(value: Any) -> str:
  if isinstance(value, int) and abs(value) > 10**30:
    return f'<an integer of {len(str(abs(value)))} digits>'
  text = repr(value)
  return text if len(text) <= 40 else text[:37] + '...'


def _convert_nested(value: Any, info: TensorInfo, where: str) -> Any:
  if isinstance(value, list):
    return [_convert_nested(v, info, f'{where}[{i}]') for i, v in enumerate(value)]
  return _convert_scalar(value, info, where)


def _to_array(values: List[Any], info: TensorInfo, where: str) -> np.ndarray:
  """Converts a batch (list, one entry per row) to an array of info's dtype."""
  converted = _convert_nested(values, info, where)
  try:
    if info.dtype == 'string':
      arr = np.array(converted, dtype=object)
      if arr.dtype != object or any(isinstance(x, list) for x in arr.flat):
        raise ValueError('ragged')
    else:
      arr = np.array(converted, dtype=info.np_dtype)
  except (ValueError, OverflowError) as e:
    raise RequestError(f'{where}: values do not form a rectangular {info.dtype} '
                       f'tensor ({e})') from e
  if info.rank_known:
    if arr.ndim != len(info.shape):
      raise RequestError(
          f'{where}: expected a tensor of shape {_shape_str(info.shape)} '
          f'(one {"scalar" if len(info.shape) == 1 else "value of shape " + _shape_str(info.shape[1:])}'
          f' per instance), got shape {list(arr.shape)}')
    for got, want in zip(arr.shape, info.shape):
      if want is not None and want >= 0 and got != want:
        raise RequestError(f'{where}: expected shape {_shape_str(info.shape)}, '
                           f'got {list(arr.shape)}')
  return arr


def _shape_str(shape: Sequence[Optional[int]]) -> str:
  return '[' + ', '.join('?' if d is None or d < 0 else str(d) for d in shape) + ']'


def decode_request(body: Any,
                   signatures: Mapping[str, SignatureInfo],
                   default_signature: str = 'serving_default',
                   key_field: Optional[str] = None,
                   max_instances: Optional[int] = None) -> DecodedRequest:
  """Validates a parsed JSON request body and turns it into input arrays.

  Args:
    body: the parsed JSON document.
    signatures: the model version's signatures by name.
    default_signature: used when the request has no `signature_name`.
    key_field: an instance field that is a request key rather than a model input
      (e.g. `application_id`); it is taken out of the instances (unless the
      signature has an input of that name) and returned per row.
    max_instances: larger batches are refused (413) before any conversion.
  """
  if not isinstance(body, dict):
    raise RequestError(f'request body must be a JSON object, got {_type_name(body)}')
  sig_name = body.get('signature_name', default_signature)
  if sig_name in (None, ''):
    sig_name = default_signature
  if not isinstance(sig_name, str):
    raise RequestError('"signature_name" must be a string')
  if sig_name not in signatures:
    raise RequestError(f'serving signature name: "{sig_name}" not found in signature def; '
                       f'available: {sorted(signatures)}')
  sig = signatures[sig_name]
  has_instances, has_inputs = 'instances' in body, 'inputs' in body
  if has_instances and has_inputs:
    raise RequestError('request must contain either "instances" (row format) or '
                       '"inputs" (columnar format), not both')
  if not has_instances and not has_inputs:
    raise RequestError('request must contain "instances" (row format) or "inputs" '
                       '(columnar format)')
  strip_key = key_field if key_field and key_field not in sig.inputs else None
  if has_instances:
    if max_instances and isinstance(body['instances'], list):
      _check_batch(len(body['instances']), max_instances)
    return _decode_rows(body['instances'], sig, strip_key)
  decoded = _decode_columns(body['inputs'], sig, strip_key)
  if max_instances:
    _check_batch(decoded.batch_size, max_instances)
  return decoded


def _check_batch(size: int, max_instances: int) -> None:
  if size > max_instances:
    raise RequestError(f'{size} instances in one request exceed the limit of '
                       f'{max_instances} (max_instances); send smaller batches', 413)


def _is_b64(value: Any) -> bool:
  return isinstance(value, dict) and set(value) == {'b64'}


def _decode_rows(instances: Any, sig: SignatureInfo,
                 key_field: Optional[str]) -> DecodedRequest:
  if not isinstance(instances, list):
    raise RequestError(f'"instances" must be a list, got {_type_name(instances)}')
  if not instances:
    raise RequestError('"instances" is empty: send at least one instance')
  names = list(sig.inputs)
  single = len(names) == 1
  columns: Dict[str, List[Any]] = {n: [] for n in names}
  row_keys: Optional[List[Optional[str]]] = [] if key_field else None
  expected = set(names)
  for i, inst in enumerate(instances):
    if isinstance(inst, dict) and not _is_b64(inst):
      inst = dict(inst)
      if key_field is not None:
        key = inst.pop(key_field, None)
        row_keys.append(None if key is None else str(key))
      got = set(inst)
      if got != expected:
        missing = sorted(expected - got)
        unknown = sorted(got - expected)
        parts = []
        if missing:
          parts.append(f'missing input(s) {missing}')
        if unknown:
          parts.append(f'unknown input(s) {unknown}')
        raise RequestError(f'instances[{i}]: {"; ".join(parts)}; signature '
                           f'"{sig.name}" expects exactly {sorted(expected)}')
      for n in names:
        columns[n].append(inst[n])
    elif single:
      if row_keys is not None:
        row_keys.append(None)
      columns[names[0]].append(inst)
    else:
      raise RequestError(
          f'instances[{i}]: expected an object with inputs {sorted(expected)}, got '
          f'{_type_name(inst)} (bare values are only allowed for one-input signatures)')
  tensors = {n: _to_array(columns[n], sig.inputs[n], f'input "{n}"') for n in names}
  return DecodedRequest(sig.name, tensors, True, len(instances), row_keys)


def _decode_columns(inputs: Any, sig: SignatureInfo,
                    key_field: Optional[str]) -> DecodedRequest:
  names = list(sig.inputs)
  row_keys = None
  if isinstance(inputs, dict) and not _is_b64(inputs):
    inputs = dict(inputs)
    if key_field is not None and key_field in inputs:
      keys = inputs.pop(key_field)
      if not isinstance(keys, list):
        raise RequestError(f'"inputs"["{key_field}"] must be a list')
      row_keys = [None if k is None else str(k) for k in keys]
    got, expected = set(inputs), set(names)
    if got != expected:
      parts = []
      if expected - got:
        parts.append(f'missing input(s) {sorted(expected - got)}')
      if got - expected:
        parts.append(f'unknown input(s) {sorted(got - expected)}')
      raise RequestError(f'"inputs": {"; ".join(parts)}; signature "{sig.name}" '
                         f'expects exactly {sorted(expected)}')
    columns = inputs
  elif len(names) == 1:
    columns = {names[0]: inputs}
  else:
    raise RequestError(f'"inputs" must be an object mapping input name to values; '
                       f'signature "{sig.name}" has inputs {sorted(names)}')
  tensors = {}
  for n in names:
    info = sig.inputs[n]
    values = columns[n]
    batched = info.rank_known and len(info.shape) >= 1
    if batched and not isinstance(values, list):
      raise RequestError(f'input "{n}": expected a list (one value per instance), '
                         f'got {_type_name(values)}')
    if not batched:
      tensors[n] = np.asarray(_convert_nested(values, info, f'input "{n}"'),
                              dtype=info.np_dtype)
      continue
    tensors[n] = _to_array(values, info, f'input "{n}"')
  sizes = {n: t.shape[0] for n, t in tensors.items() if t.ndim >= 1}
  if len(set(sizes.values())) > 1:
    raise RequestError(f'"inputs": all inputs need the same number of values, got {sizes}')
  batch = next(iter(sizes.values())) if sizes else 1
  if batch == 0:
    raise RequestError('"inputs" has no values: send at least one instance')
  if row_keys is not None and len(row_keys) != batch:
    raise RequestError(f'"inputs"["{key_field}"] has {len(row_keys)} values for '
                       f'{batch} instances')
  return DecodedRequest(sig.name, tensors, False, batch, row_keys)


# ----------------------------------------------------------------- responses
def to_json_value(arr: np.ndarray) -> Any:
  """An output array as JSON-ready nested lists (NaN/inf -> null, bytes -> str)."""
  if arr.dtype == object or arr.dtype.kind in ('S', 'U'):
    return _bytes_to_json(arr.tolist())
  if arr.dtype.kind == 'f':
    if np.isfinite(arr).all():
      return arr.tolist()
    return _nan_to_none(arr.tolist())
  return arr.tolist()


def _nan_to_none(value: Any) -> Any:
  if isinstance(value, list):
    return [_nan_to_none(v) for v in value]
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def _bytes_to_json(value: Any) -> Any:
  if isinstance(value, list):
    return [_bytes_to_json(v) for v in value]
  if isinstance(value, bytes):
    try:
      return value.decode('utf-8')
    except UnicodeDecodeError:
      return {'b64': base64.b64encode(value).decode('ascii')}
  return value


def encode_response(outputs: Mapping[str, np.ndarray], row_format: bool,
                    batch_size: int) -> Dict[str, Any]:
  """The TF Serving response body for `outputs` (name -> array)."""
  if not row_format:
    if len(outputs) == 1:
      return {'outputs': to_json_value(next(iter(outputs.values())))}
    return {'outputs': {k: to_json_value(v) for k, v in outputs.items()}}
  for name, arr in outputs.items():
    if arr.ndim == 0 or arr.shape[0] != batch_size:
      raise ValueError(f'output "{name}" has shape {list(arr.shape)}, which does not '
                       f'have the batch size {batch_size} as first dimension')
  columns = {k: to_json_value(v) for k, v in outputs.items()}
  if len(columns) == 1:
    return {'predictions': next(iter(columns.values()))}
  names = list(columns)
  return {'predictions': [{n: columns[n][i] for n in names} for i in range(batch_size)]}


def json_rows(tensors: Mapping[str, np.ndarray], batch_size: int) -> List[Dict[str, Any]]:
  """A batch as one JSON-ready dict per row (used by the request log).

  Tensors without a batch dimension are repeated in every row.
  """
  columns = {}
  for name, arr in tensors.items():
    columns[name] = (to_json_value(arr), arr.ndim >= 1 and arr.shape[0] == batch_size)
  return [{name: (col[i] if batched else col) for name, (col, batched) in columns.items()}
          for i in range(batch_size)]
