"""One self-contained HTML report per pipeline run, read from ML Metadata.

  python -m cli.provenance report [--run RUN_ID] [--out FILE]
  local_runner.py writes one at the end of every run and prints its path.

The page is the `reports` kit's (reports/templates/run_report.html.j2, the
shared stylesheet inlined, SVG charts, no scripts, nothing fetched), so it
can be mailed, attached to a ticket or archived with the run.

Each section is a function keyed on what the run produced (report_run.py
says how to add one); the sections live in report_data.py (run and data),
report_model.py (evaluation) and report_after.py (HLP, rollout, lineage,
artifacts). A section that raises is shown as an error box instead of
failing the run; tests look for RENDER_ERROR_CLASS.
"""

import datetime
import os
import re
from typing import Optional

import reports
from provenance import report_after  # pylint: disable=unused-import  (registers sections)
from provenance import report_data  # pylint: disable=unused-import
from provenance import report_model  # pylint: disable=unused-import
from provenance import report_run

# What the report's users call; the definitions are in report_run.py.
Run = report_run.Run
load_run = report_run.load_run
section = report_run.section
of_type = report_run.of_type
type_name_like = report_run.type_name_like
SECTIONS = report_run.SECTIONS
RENDER_ERROR_CLASS = report_run.RENDER_ERROR_CLASS

TEMPLATE = 'run_report.html.j2'
# Page order; a section added elsewhere comes last.
PAGE_ORDER = ('overview', 'statistics', 'anomalies', 'drift', 'data-gate', 'evaluation',
              'fairness', 'per-class', 'blessing', 'automation', 'hlp', 'rollout', 'lineage',
              'artifacts')


def _in_page_order():
  rank = {name: i for i, name in enumerate(PAGE_ORDER)}
  return sorted(SECTIONS, key=lambda s: rank.get(s.id, len(PAGE_ORDER)))


def rendered_sections(run: report_run.Run):
  """(id, title, html) of every section the run has, in page order."""
  found = []
  for s in _in_page_order():
    artifacts = [a for a in run.artifacts if s.matches(a)] if s.matches else []
    if s.matches and not artifacts:
      continue
    try:
      fragment = s.render(run, artifacts)
    except Exception as e:  # pylint: disable=broad-except
      fragment = reports.render('render_error.html.j2', css_class=RENDER_ERROR_CLASS,
                                error=f'{type(e).__name__}: {e}')
    if fragment is not None:
      found.append({'id': s.id, 'title': s.title, 'nav': s.title.split(':')[0],
                    'html': fragment})
  return found


def page_data(run: report_run.Run) -> dict:
  s = run.summary
  return {
      'title': f'{s.pipeline_name}: run {s.run_id}',
      'spans': ', '.join(map(str, run.spans)) or '-',
      'blessed': ('blessed' if s.blessed else
                  'not blessed' if s.blessed is not None else 'not evaluated'),
      'pushed': 'pushed' if s.pushed_destination else 'not pushed',
      'generated': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
      'sections': rendered_sections(run),
  }


def render(run: report_run.Run) -> str:
  return reports.render(TEMPLATE, **page_data(run))


def default_path(metadata_path: str, run_id: str) -> str:
  safe = re.sub(r'[^A-Za-z0-9_.-]+', '-', run_id).strip('-')
  return os.path.join(os.path.dirname(os.path.abspath(metadata_path)), 'reports',
                      f'run-{safe}.html')


def write_report(metadata_path: str, pipeline_name: str, run_id: Optional[str] = None,
                 out: Optional[str] = None) -> str:
  """Renders the run (default: the latest) to `out` and returns the path."""
  run = load_run(metadata_path, pipeline_name, run_id)
  path = os.path.abspath(out or default_path(metadata_path, run.summary.run_id))
  return reports.write(path, TEMPLATE, **page_data(run))
