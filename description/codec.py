"""The one execution parameter under which every custom component receives the
description (recorded in ML Metadata with the execution), and its codec."""

import json
from typing import Any

from description.spec import DatasetSpec

EXEC_PROPERTY = 'dataset_description'


def to_exec_property(spec: DatasetSpec) -> str:
  # Keys keep the description's order: the order of `columns` is the order of
  # the model's inputs, so sorting them would decode to a different spec.
  return json.dumps(spec.to_config())


def from_exec_property(value: Any) -> DatasetSpec:
  """The DatasetSpec a component was given (a JSON string, or the decoded dict)."""
  config = json.loads(value) if isinstance(value, (str, bytes)) else value
  return DatasetSpec.from_config(config)
