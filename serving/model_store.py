"""Loads the versions of one model from a Pusher serving directory.

Layout (what TFX's Pusher writes): `<base_path>/<version>/saved_model.pb`,
version a positive integer (a timestamp such as 1732262400).

A version becomes AVAILABLE (and so may be routed to) only after it

1. parses (saved_model.pb is a valid SavedModel protobuf),
2. loads with `tf.saved_model.load`,
3. satisfies the serving contract (`Contract`), and
4. passes a smoke test: every signature is run on a small synthetic batch (row 0:
   zeros / empty strings, row 1: NaN / empty strings, i.e. all values missing) plus
   any caller-supplied instances, and its outputs must have the batch size, be
   finite, and (for the contract outputs) be proper probabilities and class ids.

A version that fails any step is recorded with state END and the error
(visible in `GET /v1/models/{name}`); it is never added to the routable set,
so whatever was serving keeps serving. `scan()` retries a failed version only
when its directory content changes (e.g. the Pusher finished copying it).
"""

import dataclasses
import logging
import os
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # noqa: E402

from serving import automation  # noqa: E402
from serving import rest_codec  # noqa: E402
from serving.contract import (Contract, ContractError,  # noqa: E402
                              ModelLoadError, check_outputs, smoke_batch,
                              takes_serialized_examples)
from serving.rest_codec import RequestError, SignatureInfo, TensorInfo  # noqa: E402

_LOG = logging.getLogger(__name__)


# TF Serving's ModelVersionStatus states.
LOADING = 'LOADING'
AVAILABLE = 'AVAILABLE'
UNLOADING = 'UNLOADING'
END = 'END'


@dataclasses.dataclass
class VersionStatus:
  version: int
  state: str
  error_code: str = 'OK'
  error_message: str = ''
  updated_at: float = dataclasses.field(default_factory=time.time)
  load_seconds: Optional[float] = None

  def to_json(self) -> Dict[str, Any]:
    """TF Serving's ModelVersionStatus JSON."""
    return {
        'version': str(self.version),
        'state': self.state,
        'status': {'error_code': self.error_code, 'error_message': self.error_message},
    }


def _tensor_info(name: str, spec: Any) -> TensorInfo:
  shape = spec.shape
  if shape.rank is None:
    return TensorInfo(name, spec.dtype.name, (), rank_known=False)
  return TensorInfo(name, spec.dtype.name, tuple(shape.as_list()))


class LoadedModel:
  """One loaded, checked model version; `predict` is thread-safe."""

  def __init__(self, model_name: str, version: int, path: str, loaded: Any,
               signature_defs: Dict[str, Any]):
    self.model_name = model_name
    self.version = version
    self.path = path
    self._loaded = loaded
    from serving import signature_call  # pylint: disable=g-import-not-at-top  (imports TF)
    self._calls = {n: signature_call.SignatureCall(f) for n, f in loaded.signatures.items()}
    self.signature_defs = signature_defs  # name -> TF Serving JSON of SignatureDef
    self.automation_policy: Optional[automation.VersionPolicy] = None  # pushed with it
    self.signatures: Dict[str, SignatureInfo] = {}
    for sig_name, fn in loaded.signatures.items():
      _, kwargs = fn.structured_input_signature
      inputs = {k: _tensor_info(k, v) for k, v in sorted(kwargs.items())}
      outputs = {k: _tensor_info(k, v) for k, v in sorted(fn.structured_outputs.items())}
      self.signatures[sig_name] = SignatureInfo(sig_name, inputs, outputs)

  def predict(self, signature_name: str,
              tensors: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Runs one signature. Bad input content -> RequestError (400)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    call = self._calls.get(signature_name)
    if call is None:
      raise RequestError(f'serving signature name: "{signature_name}" not found in '
                         f'signature def; available: {sorted(self._calls)}')
    try:
      outputs = call(tensors)
    except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
      raise RequestError(f'the model rejected the input: {_first_line(e.message)}') from e
    except (TypeError, ValueError) as e:
      raise RequestError(f'the model rejected the input: {_first_line(str(e))}') from e
    return {k: v.numpy() for k, v in outputs.items()}

  def metadata_json(self) -> Dict[str, Any]:
    return {'signature_def': {'signature_def': self.signature_defs}}


def _first_line(text: str) -> str:
  text = (text or '').strip()
  return text.splitlines()[0] if text else 'unknown error'


def _fingerprint(path: str) -> Tuple:
  entries = []
  for root, dirs, files in os.walk(path):
    dirs.sort()
    for f in sorted(files):
      try:
        st = os.stat(os.path.join(root, f))
      except OSError:
        continue
      entries.append((os.path.relpath(os.path.join(root, f), path), st.st_size,
                      st.st_mtime_ns))
    if len(entries) > 10000:  # a huge asset tree: the prefix is enough
      break
  return tuple(entries)


def _newest_mtime(fingerprint: Tuple) -> float:
  return max((e[2] for e in fingerprint), default=0) / 1e9


def _read_signature_defs(path: str) -> Dict[str, Any]:
  """Parses saved_model.pb; returns the serve MetaGraph's SignatureDefs as JSON."""
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from google.protobuf import message as pb_message  # pylint: disable=g-import-not-at-top
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top

  pb = os.path.join(path, 'saved_model.pb')
  pbtxt = os.path.join(path, 'saved_model.pbtxt')
  sm = saved_model_pb2.SavedModel()
  try:
    if os.path.exists(pb):
      with open(pb, 'rb') as f:
        sm.ParseFromString(f.read())
    elif os.path.exists(pbtxt):
      with open(pbtxt) as f:
        text_format.Parse(f.read(), sm)
    else:
      raise ModelLoadError(f'{path} has no saved_model.pb (or saved_model.pbtxt)',
                           'NOT_FOUND')
  except (pb_message.DecodeError, text_format.ParseError, UnicodeDecodeError) as e:
    raise ModelLoadError(f'{pb} is corrupt: not a valid SavedModel protobuf ({e})',
                         'DATA_LOSS') from e
  except OSError as e:
    raise ModelLoadError(f'cannot read {pb}: {e}', 'UNAVAILABLE') from e
  for mg in sm.meta_graphs:
    if 'serve' in mg.meta_info_def.tags:
      return {
          k: json_format.MessageToDict(v, preserving_proto_field_name=True)
          for k, v in sorted(mg.signature_def.items())
          if not k.startswith('__')
      }
  raise ModelLoadError(f'{pb} has no MetaGraph tagged "serve" '
                       f'({len(sm.meta_graphs)} meta graphs)', 'NOT_FOUND')


@dataclasses.dataclass
class ScanResult:
  loaded: List[int] = dataclasses.field(default_factory=list)
  failed: Dict[int, str] = dataclasses.field(default_factory=dict)
  skipped: List[int] = dataclasses.field(default_factory=list)  # still settling

  def to_json(self) -> Dict[str, Any]:
    return {'loaded': [str(v) for v in self.loaded],
            'failed': {str(k): v for k, v in self.failed.items()},
            'skipped': [str(v) for v in self.skipped]}


LoadListener = Callable[[int, bool, str, float], None]


class ModelStore:
  """The versions of one model: loading, status, lookup. Thread-safe."""

  def __init__(self,
               model_name: str,
               base_path: str,
               contract: Optional[Contract] = Contract(),
               smoke_instances: Optional[List[Dict[str, Any]]] = None,
               settle_seconds: float = 0.0,
               listener: Optional[LoadListener] = None):
    """Args:
      model_name: the name served under /v1/models/{name}.
      base_path: the directory holding the integer version subdirectories.
      contract: checked on every load; None skips the contract (not the smoke test).
      smoke_instances: extra rows (TF Serving row format for serving_default)
        every version must answer sanely before it becomes available.
      settle_seconds: `scan()` skips a version whose files changed more
        recently than this (the Pusher may still be copying it).
      listener: called as listener(version, ok, message, seconds) after each load.
    """
    self.model_name = model_name
    self.base_path = base_path
    self.contract = contract
    self.smoke_instances = smoke_instances
    self.settle_seconds = settle_seconds
    self._listener = listener
    self._lock = threading.Lock()
    self._load_lock = threading.Lock()
    self._models: Dict[int, LoadedModel] = {}
    self._status: Dict[int, VersionStatus] = {}
    self._failed_fingerprint: Dict[int, Tuple] = {}

  # ------------------------------------------------------------ discovery
  def version_dirs(self) -> Dict[int, str]:
    """Integer-named subdirectories of base_path (others are ignored)."""
    try:
      names = os.listdir(self.base_path)
    except FileNotFoundError:
      return {}
    out = {}
    for n in names:
      if (n.isascii() and n.isdigit() and int(n) > 0 and
          os.path.isdir(os.path.join(self.base_path, n))):
        out[int(n)] = os.path.join(self.base_path, n)
    return out

  def scan(self, settle: bool = True, skip: Iterable[int] = ()) -> ScanResult:
    """Loads every version directory not yet loaded (oldest first).

    A version that failed before is retried only if its files changed.
    Never raises for a bad version; the result and `statuses()` tell.
    settle=False ignores `settle_seconds` (e.g. the scan at start-up).
    Versions in `skip` (rejected ones) are not loaded.
    """
    result = ScanResult()
    skip = set(skip)
    for version, path in sorted(self.version_dirs().items()):
      if version in skip:
        continue
      with self._lock:
        if version in self._models:
          continue
      fp = _fingerprint(path)
      if self._failed_fingerprint.get(version) == fp:
        continue
      if settle and self.settle_seconds and time.time() - _newest_mtime(fp) < self.settle_seconds:
        result.skipped.append(version)
        continue
      try:
        self.load_version(version)
        result.loaded.append(version)
      except ModelLoadError as e:
        result.failed[version] = str(e)
    return result

  # ------------------------------------------------------------ loading
  def load_version(self, version: int) -> LoadedModel:
    """Loads, checks and smoke-tests one version; raises ModelLoadError.

    Loading an already available version returns it unchanged.
    """
    version = int(version)
    with self._load_lock:
      with self._lock:
        if version in self._models:
          return self._models[version]
        self._status[version] = VersionStatus(version, LOADING)
      path = os.path.join(self.base_path, str(version))
      fp = _fingerprint(path) if os.path.isdir(path) else ()
      start = time.monotonic()
      try:
        model = self._load(version, path)
      except ModelLoadError as e:
        seconds = time.monotonic() - start
        _LOG.error('model %s version %d failed to load and will not serve: %s',
                   self.model_name, version, e)
        with self._lock:
          self._status[version] = VersionStatus(version, END, e.error_code, str(e),
                                                load_seconds=seconds)
          self._failed_fingerprint[version] = fp
        self._notify(version, False, str(e), seconds)
        raise
      seconds = time.monotonic() - start
      with self._lock:
        self._models[version] = model
        self._status[version] = VersionStatus(version, AVAILABLE, load_seconds=seconds)
        self._failed_fingerprint.pop(version, None)
      _LOG.info('model %s version %d is available (%.2fs)', self.model_name, version,
                seconds)
      self._notify(version, True, '', seconds)
      return model

  def _notify(self, version: int, ok: bool, message: str, seconds: float) -> None:
    if self._listener is not None:
      try:
        self._listener(version, ok, message, seconds)
      except Exception:  # pylint: disable=broad-except
        _LOG.exception('load listener failed')

  def _load(self, version: int, path: str) -> LoadedModel:
    if not os.path.isdir(path):
      raise ModelLoadError(f'version directory {path} does not exist', 'NOT_FOUND')
    signature_defs = _read_signature_defs(path)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      loaded = tf.saved_model.load(path, tags=['serve'])
    except Exception as e:  # pylint: disable=broad-except
      raise ModelLoadError(f'tf.saved_model.load({path}) failed: '
                           f'{type(e).__name__}: {_first_line(str(e))}') from e
    try:
      model = LoadedModel(self.model_name, version, path, loaded, signature_defs)
    except Exception as e:  # pylint: disable=broad-except
      raise ModelLoadError(f'cannot read the signatures of {path}: '
                           f'{type(e).__name__}: {_first_line(str(e))}') from e
    if not model.signatures:
      raise ContractError(f'{path} has no signatures')
    try:  # a wrong policy file is a broken push: never serve under an unchecked band
      model.automation_policy = automation.read_policy(path)
    except ValueError as e:
      raise ModelLoadError(str(e), 'FAILED_PRECONDITION') from e
    if self.contract is not None:
      self.contract.check(model.signatures)
    self._smoke_test(model)
    return model

  def _smoke_test(self, model: LoadedModel) -> None:
    runs = []
    for sig in model.signatures.values():
      if takes_serialized_examples(sig):
        # "" is a tf.Example with every feature missing, which the Trainer's
        # serving_examples/transform_features rightly reject (their features
        # are required); serving_default checks the same graph on raw values.
        continue
      if all(i.rank_known and i.shape and i.shape[0] is None for i in sig.inputs.values()):
        runs.append((sig, smoke_batch(sig), 2))
    if self.smoke_instances:
      try:
        req = rest_codec.decode_request({'instances': self.smoke_instances},
                                        model.signatures)
      except RequestError as e:
        raise ModelLoadError(f'smoke test: the configured smoke instances do not fit '
                             f'the signature: {e}', 'FAILED_PRECONDITION') from e
      runs.append((model.signatures[req.signature_name], req.tensors, req.batch_size))
    for sig, tensors, batch in runs:
      try:
        outputs = model.predict(sig.name, tensors)
        check_outputs(sig, outputs, batch, self.contract)
      except (RequestError, ValueError) as e:
        raise ModelLoadError(f'smoke test of signature "{sig.name}" failed: {e}',
                             'FAILED_PRECONDITION') from e
      except Exception as e:  # pylint: disable=broad-except
        raise ModelLoadError(f'smoke test of signature "{sig.name}" failed: '
                             f'{type(e).__name__}: {_first_line(str(e))}',
                             'FAILED_PRECONDITION') from e

  def unload_version(self, version: int) -> None:
    with self._lock:
      if self._models.pop(int(version), None) is None:
        raise KeyError(version)
      self._status[int(version)] = VersionStatus(int(version), END)

  # ------------------------------------------------------------ lookup
  def get(self, version: int) -> Optional[LoadedModel]:
    with self._lock:
      return self._models.get(int(version))

  def is_available(self, version: int) -> bool:
    with self._lock:
      return int(version) in self._models

  def available_versions(self) -> List[int]:
    with self._lock:
      return sorted(self._models)

  def latest_version(self) -> Optional[int]:
    with self._lock:
      return max(self._models) if self._models else None

  def status(self, version: int) -> Optional[VersionStatus]:
    with self._lock:
      s = self._status.get(int(version))
      return dataclasses.replace(s) if s else None

  def statuses(self) -> List[VersionStatus]:
    with self._lock:
      return [dataclasses.replace(s) for _, s in sorted(self._status.items(), reverse=True)]

  def models(self) -> Iterable[LoadedModel]:
    with self._lock:
      return list(self._models.values())
