"""A period of the request log: [since, until) given as dates, times or epochs."""

import datetime
from typing import Optional


def parse_time(text: Optional[str], field: str) -> Optional[float]:
  """Epoch seconds of `2026-03-01`, `2026-03-01T12:00:00` (UTC) or `1772323200`."""
  if text in (None, ''):
    return None
  try:
    return float(text)
  except ValueError:
    pass
  try:
    parsed = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
  except ValueError as e:
    raise ValueError(f'{field}: {text!r} is neither a date (2026-03-01), a UTC time '
                     f'(2026-03-01T12:00:00) nor epoch seconds') from e
  if parsed.tzinfo is None:
    parsed = parsed.replace(tzinfo=datetime.timezone.utc)
  return parsed.timestamp()


def describe(since: Optional[float], until: Optional[float]) -> str:
  fmt = lambda t: datetime.datetime.fromtimestamp(
      t, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
  return (f'[{fmt(since) if since is not None else "start"}, '
          f'{fmt(until) if until is not None else "now"})')
