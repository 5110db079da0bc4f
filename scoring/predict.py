"""A batch of raw CSV rows through the model's raw-value signature.

The Trainer exports `serving_default` taking one rank-1 tensor per model
input, raw values (float32 for numbers, NaN when missing; strings, '' when
missing), with the Transform graph inside (models/model.py make_signatures):
exactly what the REST server feeds it, so batch and live predictions agree.
The model is loaded through the server's ModelStore, so the same contract
and smoke test decide whether a version may score.
"""

import csv
import io
import threading
from typing import Dict, List, Sequence, Tuple

import numpy as np

import description
from scoring import rows as rows_lib
from scoring import versions
from serving import model_store
from serving.rest_codec import RequestError

# The one signature the serving contract requires: raw values in.
SIGNATURE = model_store.Contract().required_signature
PREDICTED_CLASS = 'predicted_class'
MODEL_VERSION = 'model_version'
# The row's origin, when the description names no id column.
ROW_REF = 'source_row'

_loaded: Dict[Tuple[str, int], model_store.LoadedModel] = {}
_lock = threading.Lock()


class ModelMismatchError(ValueError):
  """The model cannot score rows of this description; the message says why."""


def load(version: versions.ModelVersion) -> model_store.LoadedModel:
  """Loads (once per process) and checks a version as the server would."""
  key = (version.model_dir, version.version)
  with _lock:
    if key not in _loaded:
      store = model_store.ModelStore(version.model_name, version.model_dir)
      _loaded[key] = store.load_version(version.version)
    return _loaded[key]


def output_header(spec: description.DatasetSpec) -> List[str]:
  return ([spec.id_column or ROW_REF, PREDICTED_CLASS] +
          [f'probability_{c}' for c in spec.classes] + [MODEL_VERSION])


def check_model(model: model_store.LoadedModel, spec: description.DatasetSpec) -> List[str]:
  """The signature's inputs, all of them columns of the description."""
  inputs = model.signatures[SIGNATURE].inputs
  declared = {c.name for c in spec.columns}
  unknown = sorted(set(inputs) - declared)
  if unknown:
    raise ModelMismatchError(
        f'{model.path}: the model reads {unknown}, which {spec.source} does not '
        f'declare: it was trained on another dataset description')
  width = model.signatures[SIGNATURE].outputs['probabilities'].shape[-1]
  if width is not None and width != spec.num_classes:
    raise ModelMismatchError(
        f'{model.path}: the model predicts {width} classes, {spec.source} declares '
        f'{spec.num_classes} ({list(spec.classes)})')
  return sorted(inputs)


def _tensors(batch: rows_lib.RowBatch, model: model_store.LoadedModel) -> Dict[str, np.ndarray]:
  tensors = {}
  for name, info in model.signatures[SIGNATURE].inputs.items():
    values = batch.columns[name]
    if info.dtype == 'string':
      tensors[name] = np.array(values, dtype=object)
    else:
      tensors[name] = np.array([float(v) if v else np.nan for v in values],
                               dtype=info.np_dtype)
  return tensors


class Scorer:
  """Turns RowBatches into output CSV lines and Rejects."""

  def __init__(self, model: model_store.LoadedModel, spec: description.DatasetSpec,
               version: int):
    self.model = model
    self.spec = spec
    self.version = str(version)
    self.id_column = spec.id_column

  def score(self, batch: rows_lib.RowBatch) -> Tuple[str, List[rows_lib.Reject]]:
    """(the batch's output lines joined by newlines, rows the model refused)."""
    try:
      outputs = self.model.predict(SIGNATURE, _tensors(batch, self.model))
    except RequestError as e:
      if len(batch) == 1:
        return '', [rows_lib.Reject(batch.path, batch.lines[0], None, str(e), batch.texts[0])]
      # One bad row fails the whole call: find it by scoring one row at a time.
      results = [self.score(batch.row(i)) for i in range(len(batch))]
      return ('\n'.join(text for text, _ in results if text),
              [reject for _, rejects in results for reject in rejects])
    good = np.isfinite(outputs['probabilities']).all(axis=1)
    rejects = [rows_lib.Reject(batch.path, batch.lines[i], None,
                               'the model returned non-finite probabilities', batch.texts[i])
               for i in np.flatnonzero(~good)]
    return self._format(batch, outputs, good), rejects

  def _format(self, batch: rows_lib.RowBatch, outputs: Dict[str, np.ndarray],
              good: np.ndarray) -> str:
    # float32's shortest round-trip text: the file holds the model's exact values.
    probabilities = outputs['probabilities'].astype(np.float32).astype(str)
    classes = [c.decode('utf-8') if isinstance(c, bytes) else str(c)
               for c in outputs['classes']]
    ids = (batch.columns[self.id_column] if self.id_column else
           [f'{batch.path}:{line}' for line in batch.lines])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    for i in np.flatnonzero(good):
      writer.writerow([ids[i], classes[i], *probabilities[i], self.version])
    return out.getvalue().rstrip('\n')


def wanted_columns(inputs: Sequence[str], spec: description.DatasetSpec) -> List[str]:
  """The CSV columns a batch must carry: the model's inputs and the id."""
  return list(inputs) + ([spec.id_column] if spec.id_column and
                         spec.id_column not in inputs else [])
