"""What the benchmarks share: measuring a process tree, MLMD timings, tables.

The pure parts (ratios, goals, windows, tables, AUC) are unit-tested in
common_test.py; the rest spawns processes or reads a metadata store.

Measurements:
  wall          the whole process, from spawn to exit (imports included), as
                ../shared/STACK.md reports "whole process, wall";
  peak RSS      the largest sum of resident set sizes over the process and all
                its descendants (Beam's multi_processing workers included),
                sampled every --sample-seconds with psutil. Shared pages are
                counted once per process, so this over- rather than
                under-states memory;
  per component ML Metadata: execution create -> end (metadata/run_summary.py);
                a component's peak RSS is the largest tree sample inside that
                window (memory an earlier component left allocated counts too).
"""

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

PYTHON = sys.executable
# Components named differently in the two pipelines but doing the same job.
ALIASES = {
    'ImportSchemaGen': 'SchemaGen',
    'latest_blessed_model_resolver': 'Resolver',
}
# Display order; anything else follows in the order first seen.
ORDER = ('CsvExampleGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator',
         'Transform', 'Trainer', 'Resolver', 'Evaluator', 'Pusher')
MB = 1024 * 1024


# ----------------------------------------------------------------------------
# Pure helpers
# ----------------------------------------------------------------------------

def canonical(node_id: str) -> str:
  return ALIASES.get(node_id, node_id)


def ordered(names: Iterable[str]) -> List[str]:
  names = list(dict.fromkeys(names))
  known = [n for n in ORDER if n in names]
  return known + [n for n in names if n not in ORDER]


def ratio(ours: Optional[float], reference: Optional[float]) -> Optional[float]:
  if ours is None or reference is None or reference <= 0:
    return None
  return ours / reference


def median(values: Sequence[Optional[float]]) -> Optional[float]:
  values = [v for v in values if v is not None]
  return statistics.median(values) if values else None


def peak_in_window(samples: Sequence[Tuple[float, int]], start: float,
                   end: float) -> Optional[int]:
  """Largest sample with start <= t <= end; else the one nearest the window."""
  inside = [rss for t, rss in samples if start <= t <= end]
  if inside:
    return max(inside)
  if not samples:
    return None
  # A component shorter than the sampling interval: the nearest sample.
  middle = (start + end) / 2
  return min(samples, key=lambda s: abs(s[0] - middle))[1]


@dataclasses.dataclass
class Goal:
  name: str
  measured: Optional[float]
  limit: float
  higher_is_better: bool = False
  unit: str = ''

  @property
  def passed(self) -> Optional[bool]:
    if self.measured is None:
      return None
    if self.higher_is_better:
      return self.measured >= self.limit
    return self.measured <= self.limit

  def line(self) -> str:
    verdict = {True: 'PASS', False: 'FAIL', None: 'n/a '}[self.passed]
    sign = '>=' if self.higher_is_better else '<='
    shown = 'n/a' if self.measured is None else f'{self.measured:.3f}{self.unit}'
    return f'[{verdict}] {self.name}: {shown} (goal {sign} {self.limit:g}{self.unit})'


def fmt(value, spec: str = '.1f', missing: str = '-') -> str:
  if value is None:
    return missing
  if isinstance(value, float) and value != value:  # NaN
    return missing
  return format(value, spec)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                 align: Optional[str] = None) -> str:
  """Plain text table; align is one char per column ('l' or 'r')."""
  columns = len(header)
  align = align or 'l' + 'r' * (columns - 1)
  widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(columns)]

  def line(cells):
    out = []
    for i, cell in enumerate(cells):
      cell = str(cell)
      out.append(cell.ljust(widths[i]) if align[i] == 'l' else cell.rjust(widths[i]))
    return '  '.join(out).rstrip()

  rule = '  '.join('-' * w for w in widths)
  return '\n'.join([line(header), rule] + [line(r) for r in rows])


def auc_exact(labels: Sequence[int], scores: Sequence[float]) -> Optional[float]:
  """ROC AUC by ranks (Mann-Whitney U), ties counted half. None if one class."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  labels = np.asarray(labels).astype(bool)
  scores = np.asarray(scores, dtype=np.float64)
  positives = int(labels.sum())
  negatives = int(labels.size - positives)
  if positives == 0 or negatives == 0:
    return None
  order = np.argsort(scores, kind='mergesort')
  sorted_scores = scores[order]
  ranks = np.empty(scores.size, dtype=np.float64)
  # Average rank of every run of equal scores.
  boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
  starts = np.concatenate([[0], boundaries])
  ends = np.concatenate([boundaries, [scores.size]])
  for s, e in zip(starts, ends):
    ranks[order[s:e]] = (s + e + 1) / 2.0  # ranks are 1-based
  u = ranks[labels].sum() - positives * (positives + 1) / 2.0
  return float(u / (positives * negatives))


def growth(small: Optional[float], large: Optional[float], small_rows: int,
           large_rows: int) -> Dict[str, Optional[float]]:
  """Cost growth from small to large rows vs linear (1.0 = exactly linear)."""
  factor = ratio(large, small)
  rows_factor = large_rows / small_rows
  return {'factor': factor, 'rows_factor': rows_factor,
          'vs_linear': None if factor is None else factor / rows_factor}


# ----------------------------------------------------------------------------
# Machine and load
# ----------------------------------------------------------------------------

def machine() -> Dict:
  cpu = platform.processor() or ''
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  import psutil  # pylint: disable=g-import-not-at-top
  return {'host': platform.node(), 'cpu': cpu, 'cores': os.cpu_count(),
          'ram_gb': round(psutil.virtual_memory().total / 1024 ** 3, 1),
          'python': platform.python_version()}


def load() -> List[float]:
  return [round(x, 2) for x in os.getloadavg()]


def uptime_line() -> str:
  try:
    return subprocess.run(['uptime'], capture_output=True, text=True,
                          check=False).stdout.strip()
  except OSError:
    return 'load average: ' + ', '.join(map(str, load()))


def describe_machine(info: Dict) -> str:
  return (f"{info['host']}: {info['cores']} cores ({info['cpu']}), "
          f"{info['ram_gb']} GB RAM, Python {info['python']}")


# ----------------------------------------------------------------------------
# Running and measuring a process tree
# ----------------------------------------------------------------------------

@dataclasses.dataclass
class Measured:
  command: List[str]
  returncode: int
  wall: float
  started: float  # epoch seconds
  peak_rss: int  # bytes, sum over the tree
  peak_processes: int
  samples: List[Tuple[float, int]]
  load_before: List[float]
  load_after: List[float]
  log: str


def _tree_rss(root) -> Tuple[int, int]:
  import psutil  # pylint: disable=g-import-not-at-top
  total, count = 0, 0
  try:
    processes = [root] + root.children(recursive=True)
  except psutil.Error:
    return 0, 0
  for p in processes:
    try:
      total += p.memory_info().rss
      count += 1
    except psutil.Error:
      pass
  return total, count


def run_measured(command: List[str], log_path: str, env: Optional[Dict] = None,
                 cwd: str = ROOT, sample_seconds: float = 0.2,
                 timeout: Optional[float] = None) -> Measured:
  """Runs `command`, output to log_path; wall time and tree RSS samples."""
  import psutil  # pylint: disable=g-import-not-at-top
  environment = dict(os.environ)
  environment.setdefault('TF_USE_LEGACY_KERAS', '1')
  environment.update(env or {})
  samples: List[Tuple[float, int]] = []
  peak = [0, 0]
  load_before = load()
  with open(log_path, 'w') as log:
    started = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=environment, stdout=log,
                            stderr=subprocess.STDOUT)
    root = psutil.Process(proc.pid)
    done = threading.Event()

    def sample():
      while not done.is_set():
        rss, count = _tree_rss(root)
        if rss:
          samples.append((time.time(), rss))
          peak[0] = max(peak[0], rss)
          peak[1] = max(peak[1], count)
        done.wait(sample_seconds)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
      returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      proc.kill()
      returncode = proc.wait()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
  return Measured(command, returncode, wall, started, peak[0], peak[1], samples,
                  load_before, load(), log_path)


def tail(path: str, lines: int = 30) -> str:
  try:
    with open(path, errors='replace') as f:
      return ''.join(f.readlines()[-lines:])
  except OSError:
    return ''


# ----------------------------------------------------------------------------
# ML Metadata
# ----------------------------------------------------------------------------

@dataclasses.dataclass
class ComponentTiming:
  node_id: str  # canonical name
  state: str
  seconds: float
  start: float  # epoch seconds
  end: float
  peak_rss: Optional[int] = None
  outputs: Dict[str, List[str]] = dataclasses.field(default_factory=dict)


def component_timings(metadata_path: str, pipeline_name: str,
                      samples: Sequence[Tuple[float, int]] = ()) -> List[ComponentTiming]:
  """The latest run's components (metadata/run_summary.py), with windows."""
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  from metadata import connection  # pylint: disable=g-import-not-at-top
  from metadata import run_summary  # pylint: disable=g-import-not-at-top
  summary = run_summary.summarize(metadata_path, pipeline_name)
  store = connection.open_store(metadata_path)
  ids = [c.execution_id for c in summary.components]
  executions = {e.id: e for e in store.get_executions_by_id(ids)}
  events = store.get_events_by_execution_ids(ids)
  artifact_ids = sorted({e.artifact_id for e in events})
  uris = {a.id: a.uri for a in store.get_artifacts_by_id(artifact_ids)}
  outputs: Dict[int, Dict[str, List[str]]] = {}
  for event in events:
    if event.type not in (metadata_store_pb2.Event.OUTPUT,
                          metadata_store_pb2.Event.DECLARED_OUTPUT):
      continue
    key = next((s.key for s in event.path.steps if s.HasField('key')), '')
    outputs.setdefault(event.execution_id, {}).setdefault(key, []).append(
        uris.get(event.artifact_id, ''))
  timings = []
  for c in summary.components:
    execution = executions[c.execution_id]
    start = execution.create_time_since_epoch / 1000.0
    finished = getattr(run_summary, 'finished_ms', None)  # newer run_summary
    end = (finished(execution) if finished else
           execution.last_update_time_since_epoch) / 1000.0
    timings.append(ComponentTiming(
        node_id=canonical(c.node_id), state=c.state, seconds=c.seconds,
        start=start, end=end,
        peak_rss=peak_in_window(samples, start, end) if samples else None,
        outputs=outputs.get(c.execution_id, {})))
  return timings


def timings_by_name(timings: Sequence[ComponentTiming]) -> Dict[str, ComponentTiming]:
  return {t.node_id: t for t in timings}


def output_uri(timings: Sequence[ComponentTiming], node: str, key: str) -> Optional[str]:
  found = timings_by_name(timings).get(node)
  if not found or not found.outputs.get(key):
    return None
  return found.outputs[key][-1]


def kept_run(run_dir: str) -> List[ComponentTiming]:
  """The latest run's components in a kept pipeline directory (the one that
  holds metadata.sqlite; its name is the pipeline's), for output_uri."""
  metadata_path = os.path.join(run_dir, 'metadata.sqlite')
  if not os.path.exists(metadata_path):
    raise FileNotFoundError(f'{run_dir} holds no metadata.sqlite: not a kept pipeline directory')
  return component_timings(metadata_path, os.path.basename(run_dir.rstrip('/')))


def execution_properties(run_dir: str, component_class: str) -> Dict[str, str]:
  """The string custom properties (exec properties) of the latest execution
  of a component class ('Trainer', 'Transform') in a kept run's MLMD."""
  from metadata import connection  # pylint: disable=g-import-not-at-top
  store = connection.open_store(os.path.join(run_dir, 'metadata.sqlite'))
  types = {t.id: t.name for t in store.get_execution_types()}
  executions = [e for e in store.get_executions()
                if types.get(e.type_id, '').split('.')[-1] == component_class]
  if not executions:
    raise LookupError(f'no {component_class} execution in {run_dir}/metadata.sqlite')
  latest = max(executions, key=lambda e: e.id)
  return {k: v.string_value for k, v in latest.custom_properties.items()
          if v.HasField('string_value')}


def as_jsonable(obj):
  if dataclasses.is_dataclass(obj):
    return {k: as_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
  if isinstance(obj, dict):
    return {k: as_jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [as_jsonable(v) for v in obj]
  return obj


def write_json(path: Optional[str], payload: Dict) -> None:
  if not path:
    return
  with open(path, 'w') as f:
    json.dump(as_jsonable(payload), f, indent=2, default=str)
  print(f'results written to {path}')


def load_json(path: Optional[str]) -> Optional[Dict]:
  """A results file given on the command line, or None when none was given."""
  if not path:
    return None
  with open(path) as f:
    return json.load(f)
