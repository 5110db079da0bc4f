"""The package graph stays one-way: each layer imports only the layers below it.

Built from the source with `ast` (nothing is imported), so a cycle or a
back-edge fails here, in review, rather than as a circular-import error in a
Kubeflow pod. The layers, lowest first, are the README's "Layout".
"""

import ast
import collections
import os
from typing import Dict, List, Set, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Rank of each top-level package or module: an import must go to a lower rank
# (or stay inside its own package). Same rank, different package: not allowed.
LAYERS: List[Tuple[str, ...]] = [
    ('description', 'durable'),
    ('reports', 'metadata', 'console'),
    ('analysis', 'models', 'serving'),
    ('validation', 'feedback', 'rollout', 'provenance'),
    ('scoring',),
    ('monitoring',),
    ('components',),
    ('pipeline',),
    ('kubeflow_support', 'span_runs'),
    ('loop',),
    ('cli', 'local_runner', 'kubeflow_runner'),
    ('testing', 'data'),
    ('benchmarks',),
    ('tests',),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# analysis is plain pandas over tables: it may use the description, nothing else.
ONLY = {'analysis': {'description'}, 'reports': {'durable'}, 'durable': set()}
# Product packages never import test doubles or tests.
PRODUCT = set(RANK) - {'testing', 'benchmarks', 'tests', 'data'}
MAX_LINES = 400


def _modules() -> Dict[str, str]:
  found = {}
  for directory, subdirs, files in os.walk(ROOT):
    subdirs[:] = [d for d in subdirs if not d.startswith('.') and d not in (
        'work', 'build', '__pycache__', 'node_modules')]
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(directory, name)
        rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
        if rel.endswith('.__init__'):
          rel = rel[:-len('.__init__')]
        if rel.split('.')[0] in RANK:
          found[rel] = path
  return found


def _imports(path: str, module: str, known: Set[str]) -> Set[str]:
  """The project modules `module` imports (resolved to the longest known name)."""
  tree = ast.parse(open(path).read(), path)
  package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
  targets = set()
  for node in ast.walk(tree):
    names = []
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parts = package.split('.')
        parts = parts[:len(parts) - node.level + 1]
        base = '.'.join(parts + ([base] if base else []))
      names = [f'{base}.{alias.name}' for alias in node.names] + [base]
    for name in names:
      while name and name not in known:
        name = name.rpartition('.')[0]
      if name and name != module:
        targets.add(name)
  return targets


def _graph():
  modules = _modules()
  known = set(modules)
  return modules, {m: _imports(p, m, known) for m, p in modules.items()}


def _is_test(module: str) -> bool:
  leaf = module.rpartition('.')[2]
  return leaf.endswith('_test') or leaf == 'conftest'


def _top(module: str) -> str:
  return module.split('.')[0]


def test_packages_import_only_lower_layers():
  _, graph = _graph()
  wrong = []
  for module, targets in sorted(graph.items()):
    source = _top(module)
    if _is_test(module):
      continue  # Tests beside their modules may use test doubles and fixtures.
    for target in sorted(targets):
      dest = _top(target)
      if dest == source:
        continue
      if source in ONLY and dest not in ONLY[source]:
        wrong.append(f'{module} -> {target} ({source} may import only {sorted(ONLY[source])})')
      elif source in PRODUCT and dest not in PRODUCT:
        wrong.append(f'{module} -> {target} (a product package imports test code)')
      elif RANK[dest] >= RANK[source] and source != 'tests':
        wrong.append(f'{module} -> {target} ({source} is layer {RANK[source]}, '
                     f'{dest} layer {RANK[dest]})')
  assert not wrong, 'imports against the layers:\n' + '\n'.join(wrong)


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
  """One cycle of the graph, or []."""
  state: Dict[str, int] = {}
  stack: List[str] = []

  def visit(node):
    state[node] = 1
    stack.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == 1:
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    stack.pop()
    state[node] = 2
    return []

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return []


def test_no_import_cycles_between_modules():
  _, graph = _graph()
  # A package's __init__ re-exporting its modules is not a cycle of ideas.
  cycle = _cycle({m: {t for t in ts if not m.startswith(t + '.')} for m, ts in graph.items()})
  assert not cycle, 'import cycle: ' + ' -> '.join(cycle)


def test_the_checker_sees_a_back_edge_and_a_cycle():
  graph = {'a.x': {'a.y'}, 'a.y': {'a.x'}}
  assert _cycle(graph) == ['a.x', 'a.y', 'a.x']
  assert _cycle({'a.x': {'a.y'}, 'a.y': set()}) == []


def _long_modules() -> List[str]:
  modules, _ = _graph()
  long = []
  for module, path in sorted(modules.items()):
    if _top(module) not in PRODUCT or _is_test(module):
      continue
    source = open(path).read()
    lines = len(source.splitlines())
    docstring = ast.get_docstring(ast.parse(source)) or ''
    if lines > MAX_LINES and 'Longer than' not in docstring:
      long.append(f'{module}: {lines} lines')
  return long


def test_product_modules_are_short_or_say_why():
  """Past MAX_LINES a module says in its docstring ("Longer than ...") why."""
  long = _long_modules()
  assert not long, f'over {MAX_LINES} lines without a reason:\n' + '\n'.join(long)


def test_components_hold_components_only():
  """components/<name>/ has component.py (+ executor.py); nothing else at the top."""
  base = os.path.join(ROOT, 'components')
  loose = sorted(f for f in os.listdir(base) if f.endswith('.py') and f not in (
      '__init__.py', 'executor_failure.py', 'executor_failure_test.py'))
  assert not loose, f'not a component: {loose}'
  folders = [d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d))
             and not d.startswith('__')]
  assert folders
  for folder in folders:
    assert os.path.exists(os.path.join(base, folder, 'component.py')), folder
