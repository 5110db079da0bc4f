"""What a model version must offer to be served, and the checks of its answers.

`Contract` is the Trainer's export contract (signature, input dtypes and
ranks, output names/dtypes/ranks); `check_outputs` is what a sane answer looks
like (batch size, finite values, proper probabilities and class ids); the
smoke batch is two rows every version must answer before it serves.
"""

import dataclasses
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from serving import rest_codec
from serving.rest_codec import SignatureInfo, TensorInfo

DEFAULT_SIGNATURE = 'serving_default'


class ModelLoadError(Exception):
  """A version could not be made available; the message says why."""

  def __init__(self, message: str, error_code: str = 'UNKNOWN'):
    super().__init__(message)
    self.error_code = error_code


class ContractError(ModelLoadError):

  def __init__(self, message: str):
    super().__init__(message, 'FAILED_PRECONDITION')


@dataclasses.dataclass(frozen=True)
class Contract:
  """What a model must offer to be served (see the project's Trainer export).

  `required_signature` must exist; its inputs must be batched rank-1 tensors of
  `input_dtypes`; it and every other signature that has any of
  `required_outputs` must have all of them with the given dtype and rank.
  """
  required_signature: str = DEFAULT_SIGNATURE
  input_dtypes: Tuple[str, ...] = ('float32', 'string')
  input_rank: Optional[int] = 1
  required_outputs: Tuple[Tuple[str, str, int], ...] = (
      ('probabilities', 'float32', 2),
      ('class_ids', 'int64', 1),
      ('classes', 'string', 1),
  )

  def check(self, signatures: Mapping[str, SignatureInfo]) -> None:
    if self.required_signature not in signatures:
      raise ContractError(
          f'signature "{self.required_signature}" is missing; the model has '
          f'{sorted(signatures)}')
    sig = signatures[self.required_signature]
    if not sig.inputs:
      raise ContractError(f'signature "{sig.name}" has no inputs')
    for name, info in sig.inputs.items():
      if info.dtype not in self.input_dtypes:
        raise ContractError(
            f'signature "{sig.name}" input "{name}" has dtype {info.dtype}; the '
            f'contract allows {list(self.input_dtypes)}')
      if self.input_rank is not None and (not info.rank_known or
                                          len(info.shape) != self.input_rank or
                                          info.shape[0] is not None):
        raise ContractError(
            f'signature "{sig.name}" input "{name}" has shape '
            f'{_shape_repr(info)}; the contract needs [None] (one value per instance)')
    required_names = {n for n, _, _ in self.required_outputs}
    for s in signatures.values():
      if s.name != self.required_signature and not required_names & set(s.outputs):
        continue
      for name, dtype, rank in self.required_outputs:
        info = s.outputs.get(name)
        if info is None:
          raise ContractError(
              f'signature "{s.name}" lacks output "{name}"; it has {sorted(s.outputs)}')
        if info.dtype != dtype or (info.rank_known and len(info.shape) != rank):
          raise ContractError(
              f'signature "{s.name}" output "{name}" is {info.dtype} '
              f'{_shape_repr(info)}; the contract needs {dtype} of rank {rank}')


def _shape_repr(info: TensorInfo) -> str:
  if not info.rank_known:
    return '<unknown rank>'
  return '[' + ', '.join('None' if d is None else str(d) for d in info.shape) + ']'



def smoke_batch(sig: SignatureInfo) -> Dict[str, np.ndarray]:
  """Two rows: zeros/empty strings and missing values (NaN/empty strings)."""
  tensors = {}
  for name, info in sig.inputs.items():
    dims = [2] + [1 if d is None else d for d in info.shape[1:]] if info.rank_known else [2]
    if info.dtype == 'string':
      arr = np.full(dims, b'', dtype=object)
    elif info.dtype in rest_codec.FLOAT_KINDS:
      arr = np.zeros(dims, dtype=info.np_dtype)
      arr[1] = np.nan
    else:
      arr = np.zeros(dims, dtype=info.np_dtype)
    tensors[name] = arr
  return tensors


def takes_serialized_examples(sig: SignatureInfo) -> bool:
  return (len(sig.inputs) == 1 and 'examples' in sig.inputs and
          sig.inputs['examples'].dtype == 'string')


def check_outputs(sig: SignatureInfo, outputs: Mapping[str, np.ndarray], batch: int,
                  contract: Optional[Contract]) -> None:
  """Raises ValueError when outputs are not a sane answer for `batch` rows."""
  for name, arr in outputs.items():
    if arr.ndim == 0 or arr.shape[0] != batch:
      raise ValueError(f'output "{name}" has shape {list(arr.shape)} for a batch of {batch}')
    if arr.dtype.kind == 'f' and not np.isfinite(arr).all():
      raise ValueError(f'output "{name}" has NaN or infinite values')
  if contract is None or 'probabilities' not in outputs:
    return
  probs = outputs['probabilities']
  if probs.ndim != 2 or probs.shape[1] < 2:
    raise ValueError(f'"probabilities" has shape {list(probs.shape)}; expected [batch, K>=2]')
  if (probs < -1e-4).any() or (probs > 1 + 1e-4).any():
    raise ValueError('"probabilities" has values outside [0, 1]')
  if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
    raise ValueError('"probabilities" rows do not sum to 1')
  if 'class_ids' in outputs:
    ids = outputs['class_ids']
    if (ids < 0).any() or (ids >= probs.shape[1]).any():
      raise ValueError(f'"class_ids" outside [0, {probs.shape[1]})')

