"""One month after another: labels, alarm, training data, pipeline, traffic.

Month k, in the order a production team lives it:
  1. the labels of last month's traffic arrive: python -m cli.labels joins
     them to the server's request log (live quality per served version,
     recorded in ML Metadata, exported as Prometheus metrics) and the
     live-quality alert rules are evaluated on them (loop.alarm);
  2. training data: the warehouse's labelled span k, or, when the alarm
     fired in a month that responds to it, the harvested traffic
     (python -m cli.harvest) of the period that raised it;
  3. the pipeline runs on it (local_runner.py --span k) and rolls a blessed
     model out on the real server process (loop.server);
  4. the next period's applications are served, keyed by application id.
Every call is read back from ML Metadata with the id that proves it.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

from analysis import hlp_report
import description
import durable
from loop import alarm as alarm_lib
from loop import plan as plan_lib
from loop import traffic
from loop import world as world_lib
from loop.month_result import MonthResult
from loop.server import ServerProcess
from metadata import artifacts
from metadata import connection
from metadata import run_summary
from metadata import values
from pipeline import configs
from span_runs import outcome as outcome_lib

GATE = 'DataValidationGate'


@dataclasses.dataclass
class Settings:
  work_dir: str
  rows_per_month: int = 20000
  epochs: int = 20
  small: bool = False
  seed: int = 42
  months: List[plan_lib.Month] = dataclasses.field(default_factory=plan_lib.default_months)
  min_live_labels: int = 200


class Simulation:

  def __init__(self, settings: Settings, say: Callable[[str], None] = print):
    self.s = settings
    self.say = say
    self.root = os.path.abspath(settings.work_dir)
    os.makedirs(os.path.join(self.root, 'logs'), exist_ok=True)
    self.pipeline_work = os.path.join(self.root, 'pipeline')
    self.name = 'credit_risk'
    self.metadata = configs.metadata_path(self.pipeline_work, self.name)
    self.descriptions = world_lib.write_descriptions(
        os.path.join(self.root, 'descriptions'), settings.epochs, settings.small)
    self.spec = description.load(self.descriptions['normal'])
    self.world = world_lib.World(self.root, settings.rows_per_month, settings.seed,
                                 plan_lib.schedule(settings.months),
                                 os.path.join(self.root, 'logs', 'commands.log'))
    self.request_log = os.path.join(self.root, 'request_log')
    self.server = ServerProcess(configs.serving_model_dir(self.pipeline_work, self.name),
                                self.request_log, os.path.join(self.root, 'server_state'),
                                os.path.join(self.root, 'logs', 'serve.log'),
                                self.descriptions['normal'])
    self.hlp_by_month: Dict[int, dict] = {}
    self.collected: Optional[tuple] = None
    # period -> [first, last] epoch seconds of its traffic: the labels of a
    # period are joined to its own requests only, so a version that served an
    # earlier period is neither re-measured nor counted as awaiting labels.
    self.traffic_window: Dict[int, List[float]] = {}

  # ------------------------------------------------------------- commands
  def _command(self, args: List[str], month: int, timeout: float = 3600,
               env: Optional[dict] = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=configs.REPO_ROOT,
                          env=dict(os.environ, TF_USE_LEGACY_KERAS='1', **(env or {})))
    with open(os.path.join(self.root, 'logs', f'month-{month}.log'), 'a') as f:
      f.write(f'$ {" ".join(args)}\n(exit {done.returncode})\n{done.stdout}\n'
              f'--- stderr\n{done.stderr}\n')
    return done

  def _location(self) -> List[str]:
    return ['--work-dir', self.pipeline_work, '--pipeline-name', self.name]

  # ------------------------------------------------------------- the loop
  # ------------------------------------------------------------- progress
  def _progress_path(self) -> str:
    return os.path.join(self.root, 'progress.json')

  def _save(self, results: List[MonthResult]) -> None:
    durable.write_json(self._progress_path(), {
        'months': [dataclasses.asdict(r) for r in results],
        'hlp': {str(k): v for k, v in self.hlp_by_month.items()},
        'collected': list(self.collected) if self.collected else None,
        'traffic_window': {str(k): v for k, v in self.traffic_window.items()},
        'slice_share': {str(k): list(v) for k, v in self.world.slice_share.items()}})

  def _load(self) -> List[MonthResult]:
    """The months a previous, interrupted run of this work dir finished."""
    if not os.path.exists(self._progress_path()):
      return []
    with open(self._progress_path()) as f:
      saved = json.load(f)
    self.hlp_by_month = {int(k): v for k, v in saved['hlp'].items()}
    self.collected = tuple(saved['collected']) if saved['collected'] else None
    self.traffic_window = {int(k): v for k, v in saved.get('traffic_window', {}).items()}
    self.world.slice_share = {int(k): tuple(v) for k, v in saved['slice_share'].items()}
    return [MonthResult(**m) for m in saved['months']]

  def run(self) -> List[MonthResult]:
    results = self._load()
    done = {r.month for r in results}
    self.say(f'Simulating {len(self.s.months)} months under {self.root} '
             f'({self.s.rows_per_month} labelled rows and as many requests a month)'
             + (f'; months {sorted(done)} were simulated already' if done else ''))
    self.world.generate(1)
    url = self.server.start()
    self.say(f'model server: {url} (pid {self.server.pid}, request log {self.request_log})')
    try:
      for month in self.s.months:
        if month.number in done:
          continue
        started = time.time()
        self.say(f'\n=== Month {month.number}: {month.story}')
        result = self._month(month, results[-1] if results else None)
        result.seconds = time.time() - started
        results.append(result)
        self._save(results)
        self.say(f'  -> {result.did()}  [{"agrees" if result.agrees else "WRONG CALL"}, '
                 f'{result.seconds:.0f} s]')
    finally:
      self.server.stop()
    return results

  def _month(self, month: plan_lib.Month, previous: Optional[MonthResult]) -> MonthResult:
    k = month.number
    result = MonthResult(k, month.story, month.expected, expected_alarm=month.expected_alarm,
                         expect_gap_narrows=month.expect_gap_narrows,
                         expect_live_improves=month.expect_live_improves,
                         live_before=previous.live_accuracy if previous else None)
    labels_file = None
    if k >= 2:
      labels_file = self.world.labels_file(k, self.descriptions['normal'])
      self._live_quality(k, labels_file, result)
      if result.live_before is not None and result.live_accuracy is not None:
        result.notes.append(f'live accuracy {result.live_before:.3f} last month -> '
                            f'{result.live_accuracy:.3f}')
    if result.alarm == plan_lib.ALARM and month.harvest_on_alarm:
      self._harvest(k, labels_file, result)
      description_path = self.descriptions['after_alarm']
    else:
      self.world.labelled_span(k)
      description_path = self.descriptions[month.training]
      if month.collect_slice and self.collected:
        description_path = self.descriptions['collected']
        result.notes.append(f'{self.collected[0]}={self.collected[1]} collected on purpose: '
                            f'the drift it brings warns')
      if month.training == 'degraded':
        result.notes.append(f'trained with a broken configuration '
                            f'({world_lib.DEGRADED_CONFIGURATION}) behind a lax gate')
    self._pipeline(k, description_path, result)
    self._error_analysis(k, result)
    self._serve_next(k, result)
    return result

  def _live_quality(self, k: int, labels_file: str, result: MonthResult) -> None:
    out = os.path.join(self.root, 'live_quality', f'month-{k}')
    textfile = os.path.join(out, 'live_quality.prom')
    os.makedirs(out, exist_ok=True)
    self.say(f'  labels of period {k} arrived: joining them to the request log')
    window = []
    if k in self.traffic_window:
      first, last = self.traffic_window[k]
      window = ['--since', f'{first:.3f}', '--until', f'{last:.3f}']
    done = self._command(['-m', 'cli.labels', '--description', self.descriptions['normal'],
                          '--request-log', self.request_log, '--labels', labels_file,
                          '--textfile', textfile, '--out', out] + window + self._location(),
                         k)
    if done.returncode not in (0, 1) or not os.path.exists(textfile):
      raise RuntimeError(f'cli.labels failed (exit {done.returncode}):\n{done.stdout[-2000:]}'
                         f'\n{done.stderr[-2000:]}')
    for match in re.finditer(r'version (\d+): \S+; ML Metadata artifact (\d+)', done.stdout):
      result.lineage.append(f'LiveQuality artifact {match.group(2)} (version {match.group(1)})')
    for path in os.listdir(out):
      if path.startswith('live_quality-') and path.endswith('.json'):
        with open(os.path.join(out, path)) as f:
          figures = json.load(f)
        overall = figures['overall']
        result.live[figures['version']] = {
            'labelled': overall.get('n'), 'accuracy': (overall.get('accuracy') or {}).get('value')}
    schema = _schema(configs.curated_schema_path(self.spec.name))
    verdict = alarm_lib.evaluate(self.spec, schema, textfile, out, self.s.min_live_labels)
    result.alarm = plan_lib.ALARM if verdict.raised else plan_lib.QUIET
    live = ', '.join(f'version {v}: accuracy {f["accuracy"]:.3f} on {f["labelled"]}'
                     for v, f in sorted(result.live.items()) if f.get('accuracy') is not None)
    self.say(f'  live quality ({live or "no labelled predictions"}): '
             f'{"ALARM " + "; ".join(verdict.firing) if verdict.raised else "quiet"} '
             f'(promtool test rules on {verdict.rules_file})')
    if verdict.raised:
      result.notes.append('alarm: ' + '; '.join(verdict.firing))

  def _harvest(self, k: int, labels_file: str, result: MonthResult) -> None:
    self.say(f'  harvesting the traffic of period {k} with its labels as span {k}')
    done = self._command(['-m', 'cli.harvest', '--description', self.descriptions['normal'],
                          '--request-log', self.request_log, '--labels', labels_file,
                          '--data-root', self.world.data_root, '--span', str(k)]
                         + self._location(), k)
    if done.returncode != 0:
      raise RuntimeError(f'cli.harvest failed (exit {done.returncode}):\n'
                         f'{done.stdout[-2000:]}\n{done.stderr[-2000:]}')
    self.world.copy_labelers(k, k)  # the labelers' sample of period k covers these ids
    match = re.search(r'HarvestedSpan artifact (\d+)', done.stdout)
    if match:
      result.lineage.append(f'HarvestedSpan artifact {match.group(1)}')
    rows = re.search(r'span \d+: (\d+) row', done.stdout)
    result.notes.append(f'trained on the harvested traffic ({rows.group(1) if rows else "?"} '
                        f'rows), label drift accepted')

  def _pipeline(self, k: int, description_path: str, result: MonthResult) -> None:
    self.say(f'  pipeline on span {k} ({os.path.basename(description_path)})')
    done = self._command(
        ['local_runner.py', '--description', description_path, '--data-root',
         self.world.data_root, '--work-dir', self.pipeline_work, '--span', str(k),
         '--rollout-server-url', self.server.url, '--allow-unblessed'], k,
        env={'SERVING_ADMIN_TOKEN': self.server.admin_token()})
    summary = run_summary.summarize(self.metadata, self.name)
    store = connection.open_store(self.metadata)
    outcome = outcome_lib.outcome_of(summary, store)
    result.decision, lineage = _decision(summary, outcome, done.returncode)
    result.lineage += lineage
    self.say(f'  pipeline: exit {done.returncode}; {outcome.what_happened()}')

  def _error_analysis(self, k: int, result: MonthResult) -> None:
    summary = run_summary.summarize(self.metadata, self.name)
    hlp = summary.artifact(artifacts.HumanLevelPerformance.TYPE_NAME)
    if hlp is None:
      return
    path = os.path.join(hlp.uri, 'hlp_report.json')
    if not os.path.exists(path):
      return
    with open(path) as f:
      report = json.load(f)
    if result.decision in (plan_lib.PROMOTED, plan_lib.PROMOTED_SHADOW):
      # Only the analysis of a model that now serves says what to work on: a
      # rolled-back candidate's gaps (month 4's broken one) are not the system's.
      self.hlp_by_month[k] = report
    result.lineage.append(f'HumanLevelPerformance artifact {hlp.id}')
    top = world_lib.top_slice(report)
    if top:
      self.say(f'  error analysis: work on {top.get("slice_column")}={top.get("slice_value")} '
               f'(model {_f(top.get("model"))} vs human level {_f(top.get("hlp"))})')
    if self.collected:
      # Both gaps on this span's evaluation split against its HLP: the serving
      # model's (the report's blessed model) and the new one's. Comparing with
      # the gap the earlier analysis named would also compare two spans' noise,
      # and a slice named for the largest gap regresses toward the mean alone.
      column, value, _ = self.collected
      result.gap_before = world_lib.slice_gap(report, column, value,
                                              hlp_report.BLESSED_MODEL_COLUMN)
      result.slice_gap = world_lib.slice_gap(report, column, value)
      result.notes.append(f'gap to human level of {column}={value}, serving model -> new '
                          f'model: {_f(result.gap_before)} -> {_f(result.slice_gap)}')
      self.collected = None

  def _serve_next(self, k: int, result: MonthResult) -> None:
    period = k + 1
    upcoming = [m for m in self.s.months if m.number == period]
    if upcoming and upcoming[0].collect_slice:
      # The latest error analysis: a month the gate blocked has none of its own.
      analysed = [m for m in self.hlp_by_month if m <= k]
      report = self.hlp_by_month[max(analysed)] if analysed else None
      top = world_lib.top_slice(report)
      column, value = (top.get('slice_column'), str(top.get('slice_value'))) if top else (None,
                                                                                         None)
      if top is None:
        self.say(f'  no error analysis up to month {k}: no slice to collect more of')
      elif column == world_lib.COLLECTABLE:
        self.world.slice_share[period] = (value, world_lib.COLLECTED_SHARE)
        self.collected = (column, value, world_lib.slice_gap(report, column, value))
        self.say(f'  collecting more labelled applications of {column}={value} in period '
                 f'{period} ({world_lib.COLLECTED_SHARE:.0%} of the warehouse\'s span, the '
                 f'traffic unchanged; the error analysis of month '
                 f'{max(analysed)} names it, gap to human level {_f(self.collected[2])})')
      else:
        self.say(f'  the error analysis names {column}={value}: the world can only collect '
                 f'more of one {world_lib.COLLECTABLE}')
    self.world.generate(period)
    rows = self.world.traffic(period)
    first = time.time()
    counts = traffic.send(self.server.url, self.name, self.server.admin_token(), rows, self.spec)
    # The log's timestamps are the server's clock, the same machine's.
    self.traffic_window[period] = [first - 1.0, time.time() + 1.0]
    self.say(f'  served the {len(rows)} applications of period {period}: '
             + ', '.join(f'{n} by {who}' for who, n in sorted(counts.items())))


def _f(value) -> str:
  return '–' if value is None else f'{float(value):.3f}'


def _clip(text: str, limit: int) -> str:
  """At most `limit` characters, cut after a whole clause of a '; '-joined list."""
  if len(text) <= limit:
    return text
  cut = text.rfind('; ', 0, limit)
  return (text[:cut] if cut > 0 else text[:limit]) + '; ...'


def _schema(path: str):
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  with open(path) as f:
    return text_format.Parse(f.read(), schema_pb2.Schema())


def _decision(summary: run_summary.RunSummary, outcome: outcome_lib.SpanOutcome,
              code: int):
  """The pipeline's call for this span, and the ML Metadata ids behind it."""
  lineage = [f'pipeline run {summary.run_id}']
  if outcome.rejected_by == GATE:
    gate = summary.component(GATE)
    verdict = summary.artifact(artifacts.DataValidationVerdict.TYPE_NAME)
    lineage.append(f'{GATE} execution {gate.execution_id}' if gate else GATE)
    if verdict is not None:
      lineage.append(f'DataValidationVerdict artifact {verdict.id}')
    return plan_lib.BLOCKED, lineage
  if outcome.rejected_by or outcome.failed_node or not outcome.finished:
    node = outcome.rejected_by or outcome.failed_node or 'a component'
    component = summary.component(node)
    if component is not None:
      lineage.append(f'{node} execution {component.execution_id}')
    return f'{plan_lib.FAILED} in {node} (exit {code})', lineage
  blessing = summary.artifact('ModelBlessing')
  if blessing is not None:
    lineage.append(f'ModelBlessing artifact {blessing.id}')
  if not outcome.blessed:
    return plan_lib.NOT_BLESSED, lineage
  decision = summary.artifact(artifacts.RolloutDecision.TYPE_NAME)
  if decision is None:
    return f'{plan_lib.FAILED}: no rollout decision', lineage
  lineage.append(f'RolloutDecision artifact {decision.id}')
  kind = values.property_value(decision, 'decision')
  mode = values.property_value(decision, 'mode')
  step = values.int_property(decision, 'step')
  if kind == 'promoted':
    return (plan_lib.PROMOTED_SHADOW if mode == 'shadow' else plan_lib.PROMOTED), lineage
  if kind == 'rolled_back':
    reason = values.property_value(decision, 'reason')
    if reason:
      lineage.append(f'rollback reason: {_clip(str(reason), 300)}')
    return (plan_lib.ROLLED_BACK if step == 1 else
            f'{plan_lib.ROLLED_BACK_LATER} (step {step})'), lineage
  return f'rollout {kind}', lineage
