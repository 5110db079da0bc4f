"""What a server operation answers (status, JSON payload, headers), and the
rule that no answer shows a server file path."""

import dataclasses
from typing import Any, Dict, Iterable, List, Optional, Tuple


@dataclasses.dataclass
class Response:
  status: int
  payload: Any
  headers: Dict[str, str] = dataclasses.field(default_factory=dict)
  version: Optional[int] = None
  role: Optional[str] = None


def error(status: int, message: str) -> Response:
  return Response(status, {'error': message})


class HTTPError(Exception):
  """Raised inside an operation to answer `status` with `message`."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status


class Redactor:
  """Replaces the server's directories by placeholders in response text.

  Load errors and status messages may quote paths (TensorFlow's messages do);
  a client learns the version and the reason, never the layout of the disk.
  """

  def __init__(self, paths: Iterable[Tuple[str, str]] = ()):
    self._paths: List[Tuple[str, str]] = []
    for path, placeholder in paths:
      self.add(path, placeholder)

  def add(self, path: str, placeholder: str) -> None:
    import os  # pylint: disable=g-import-not-at-top
    for p in {path, os.path.abspath(path), os.path.realpath(path)}:
      if p and p != os.sep:
        self._paths.append((p.rstrip(os.sep), placeholder))
    # Longest first: a model directory inside the serving root keeps its name.
    self._paths.sort(key=lambda item: -len(item[0]))

  def __call__(self, text: str) -> str:
    for path, placeholder in self._paths:
      if path in text:
        text = text.replace(path, placeholder)
    return text
