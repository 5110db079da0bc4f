"""The `pii` section: columns holding personal data, and what happens to them.

    pii:
      key_env: CREDIT_RISK_PII_KEY     # only needed when a column is hashed
      columns:
        applicant_name: drop
        email: hash

`drop` removes the column; `hash` replaces each value by a keyed hash
(HMAC-SHA256 with the key read from the environment variable `key_env`), so
equal values stay joinable without the raw value being recoverable by anyone
without the key. A PII column is never a model input, the label, the id or a
slice column: the description is rejected otherwise.

`Redactor` applies the treatment to one record (a dict): cheap enough for the
server's request logging (the key is read once, dropped and hashed columns are
precomputed sets), and used by ExampleGen, the feedback commands and anything
else that writes rows out.
"""

import dataclasses
import hashlib
import hmac
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from description import fields

PII_TREATMENTS = ('drop', 'hash')
HASH_PREFIX = 'hmac-sha256:'
_ALREADY_HASHED = re.compile(re.escape(HASH_PREFIX) + '[0-9a-f]{64}')


class PIIKeyError(ValueError):
  """A column is to be hashed but the key's environment variable is unset."""


@dataclasses.dataclass(frozen=True)
class PII:
  """column -> drop | hash, and the environment variable holding the hash key."""
  columns: Tuple[Tuple[str, str], ...] = ()
  key_env: Optional[str] = None

  @property
  def names(self) -> Tuple[str, ...]:
    return tuple(name for name, _ in self.columns)

  def treatment(self, column: str) -> Optional[str]:
    return dict(self.columns).get(column)

  @property
  def dropped(self) -> Tuple[str, ...]:
    return tuple(n for n, t in self.columns if t == 'drop')

  @property
  def hashed(self) -> Tuple[str, ...]:
    return tuple(n for n, t in self.columns if t == 'hash')


def parse_pii(raw: Any, columns: Mapping[str, Any], reserved: Mapping[str, str],
              source: str) -> PII:
  """Validates the section; `reserved` maps column -> the role forbidding PII."""
  section = fields.mapping(raw, 'pii', source)
  fields.unknown_fields(section, ('key_env', 'columns'), 'pii.', source)
  marked = fields.mapping(section.get('columns'), 'pii.columns', source)
  fields.names_exist(list(marked), columns, 'pii.columns', source)
  for name, treatment in marked.items():
    fields.one_of(treatment, PII_TREATMENTS, f'pii.columns.{name}', source)
    if columns[name].treatment != 'exclude':
      raise fields.DatasetSpecError(
          f'{source}: pii.columns.{name}: personal data is never a model input, '
          f'but columns.{name}.treatment is {columns[name].treatment!r}; '
          f'set it to exclude')
    if name in reserved:
      raise fields.DatasetSpecError(
          f'{source}: pii.columns.{name}: the column is the {reserved[name]}, '
          f'which must stay readable; personal data cannot have that role')
  key_env = section.get('key_env')
  if key_env is not None and (not isinstance(key_env, str) or not key_env):
    raise fields.DatasetSpecError(
        f'{source}: pii.key_env must name an environment variable, got {key_env!r}')
  if 'hash' in marked.values() and not key_env:
    raise fields.DatasetSpecError(
        f'{source}: pii.key_env is required: columns '
        f'{sorted(n for n, t in marked.items() if t == "hash")} are hashed with a '
        f'key read from that environment variable')
  return PII(columns=tuple(marked.items()), key_env=key_env)


def hash_value(key: bytes, value: Any) -> str:
  """The keyed hash of one value as text; equal values give equal hashes.

  A value that already is such a hash is kept: records pass through more than
  one redacting step (a rollout's replay rows, then the server's request log),
  and a hash hashed again would no longer join with labels hashed once.
  """
  if isinstance(value, str) and _ALREADY_HASHED.fullmatch(value):
    return value
  digest = hmac.new(key, str(value).encode('utf-8'), hashlib.sha256).hexdigest()
  return HASH_PREFIX + digest


class Redactor:
  """Applies a description's PII treatments to records.

  Built once (reads the key from the environment when a column is hashed;
  a missing key raises PIIKeyError naming the variable), then `apply` costs a
  dict copy plus one HMAC per hashed column present in the record.
  """

  def __init__(self, pii: PII, environ: Optional[Mapping[str, str]] = None,
               source: str = '<description>'):
    environ = os.environ if environ is None else environ
    self._dropped = frozenset(pii.dropped)
    self._hashed = frozenset(pii.hashed)
    self._key = b''
    if self._hashed:
      key = environ.get(pii.key_env or '')
      if not key:
        raise PIIKeyError(
            f'{source}: pii.columns {sorted(self._hashed)} are hashed with the key '
            f'in environment variable {pii.key_env}, which is not set; export '
            f'{pii.key_env}=<a secret> (the same value everywhere, or hashes do '
            f'not join)')
      self._key = key.encode('utf-8')

  @property
  def active(self) -> bool:
    return bool(self._dropped or self._hashed)

  @property
  def dropped(self) -> frozenset:
    return self._dropped

  @property
  def hashed(self) -> frozenset:
    return self._hashed

  def hash_column(self, values: List[Any]) -> List[Any]:
    """A hashed column's values, as `apply` hashes them (empty stays empty)."""
    return [v if v in (None, '') else hash_value(self._key, v) for v in values]

  def apply(self, record: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of `record` without dropped columns and with hashed ones hashed.

    Missing and empty values stay as they are (an empty field is a missing
    value, not personal data), so presence checks see the same thing.
    """
    if not self.active:
      return dict(record)
    out = {}
    for name, value in record.items():
      if name in self._dropped:
        continue
      if name in self._hashed and value not in (None, ''):
        value = hash_value(self._key, value)
      out[name] = value
    return out


def redactor(spec: Any, environ: Optional[Mapping[str, str]] = None) -> Redactor:
  """The Redactor of a DatasetSpec (anything with `.pii` and `.source`)."""
  return Redactor(spec.pii, environ, spec.source)
