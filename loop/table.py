"""The closing table of the loop: text for the console, JSON and an HTML page."""

import os
import textwrap
from typing import List, Sequence

import durable
import reports

COLUMNS = (('month', 5), ('what happened', 30), ('what the system did', 44),
           ('what it should have done', 30), ('agree', 5), ('lineage', 34))


def _cells(result) -> List[str]:
  return [str(result.month), result.story, result.did(), result.should(),
          'yes' if result.agrees else 'NO', '; '.join(result.lineage)]


def format_table(results: Sequence) -> str:
  lines = ['  '.join(name.ljust(width) for name, width in COLUMNS)]
  lines.append('  '.join('-' * width for _, width in COLUMNS))
  for result in results:
    wrapped = [textwrap.wrap(cell, width) or [''] for cell, (_, width)
               in zip(_cells(result), COLUMNS)]
    for i in range(max(len(w) for w in wrapped)):
      lines.append('  '.join((w[i] if i < len(w) else '').ljust(width)
                             for w, (_, width) in zip(wrapped, COLUMNS)).rstrip())
  lines += ['', verdict(results)]
  return '\n'.join(lines)


def verdict(results: Sequence) -> str:
  wrong = [str(r.month) for r in results if not r.agrees]
  if wrong:
    return f'WRONG CALL in month(s) {", ".join(wrong)} of {len(results)}.'
  return f'Every call of the {len(results)} months agrees with what the system should do.'


def write(results: Sequence, out_dir: str, subtitle: str) -> dict:
  """loop.json and loop.html under `out_dir`; returns their paths."""
  rows = [r.to_json() for r in results]
  paths = {'json': os.path.join(out_dir, 'loop.json'),
           'html': os.path.join(out_dir, 'loop.html')}
  durable.write_json(paths['json'], {'months': rows, 'verdict': verdict(results),
                                     'all_agree': all(r.agrees for r in results)})
  reports.write(paths['html'], 'loop.html.j2', title='The production loop, month by month',
                subtitle=subtitle, months=rows, verdict=verdict(results))
  return paths
