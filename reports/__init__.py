"""One HTML kit for every report: Jinja2 templates, one stylesheet, one render().

  html = reports.render('rollout.html.j2', title='Rollout 3 -> 4', result=...)
  reports.write(path, 'rollout.html.j2', **data)   # atomically, readable by owner+group

A report is a template under reports/templates/ that extends `base.html.j2`
(page frame, the shared stylesheet `style.css` inlined so a report is one
self-contained file a reviewer can mail or attach) plus the data it shows,
prepared by the caller as plain values. Autoescaping is on: data never
becomes markup unless a template says `|safe` (used only for SVG the caller
built from numbers). Imports nothing of this project but its atomic writer.
"""

import functools
import os
from typing import Any

import jinja2

import durable

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'templates')


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
  env = jinja2.Environment(
      loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
      autoescape=jinja2.select_autoescape(['html', 'j2']),
      undefined=jinja2.StrictUndefined,  # A missing value is a bug, not a blank cell.
      trim_blocks=True, lstrip_blocks=True)
  env.filters['num'] = format_number
  env.filters['pct'] = format_percent
  return env


def format_number(value: Any, digits: int = 4) -> str:
  if value is None:
    return '–'
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return str(value)
  if isinstance(value, int):
    return f'{value:,}'
  if value != value:  # NaN
    return 'n/a'
  return f'{value:.{digits}g}'


def format_percent(value: Any, digits: int = 1) -> str:
  if value is None or not isinstance(value, (int, float)) or value != value:
    return '–'
  return f'{100 * value:.{digits}f}%'


def render(template: str, **data: Any) -> str:
  return environment().get_template(template).render(**data)


def write(path: str, template: str, **data: Any) -> str:
  """Renders and writes atomically (a reader never sees half a report); returns path."""
  return durable.write_text(path, render(template, **data), mode=0o640)
