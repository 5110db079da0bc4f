"""Live quality as Prometheus metrics, written as a node-exporter textfile.

A textfile (written atomically) rather than an exporter process: label joins
run as a batch command when labels arrive, and node_exporter's textfile
collector (or any scrape of the file) picks the figures up. Label values are
bounded: model, version, class (the description's classes) and slice values
of the description's slice columns, at most `max_values_per_slice` per column
(the most labelled first; the cut is exported as
live_quality_slice_values_omitted so it is never silent).

Metrics (gauges; `slice`="overall" and `value`="" for the whole version):
  live_labelled_examples{model,version,slice,value}
  live_accuracy{...}, live_accuracy_ci_low{...}, live_accuracy_ci_high{...}
  live_class_precision / live_class_recall / live_class_f1{...,class}
  live_class_recall_ci_low / live_class_recall_ci_high{...,class}
  live_rare_class_recall{model,version} (+ _ci_low, _ci_high)
  live_awaiting_labels{model,version}
  live_deferral_rate{model,version,slice,value} (partial automation: share of the
      logged cases deferred to a person, labelled or not)
  live_decision_accuracy{model,version,slice,value,decision} decision = decided
      (the model's own decisions) | deferred (its answer against the person's)
  live_quality_threshold{model,metric} the blessing gates of the description,
      so an alert rule compares against them without copying numbers:
      metric = min_accuracy | min_rare_class_recall
  offline_accuracy{model,version}, offline_rare_class_recall{model,version},
  offline_evaluation_examples{model,version}
      the version's own offline evaluation (the Evaluator run that blessed
      it) and the examples behind it, when known: "live accuracy dropped
      against offline" compares two samples (monitoring/queries.py
      live_accuracy_drop_z), so both sizes are exported
"""

from typing import Dict, List, Optional, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client import Gauge
from prometheus_client import write_to_textfile
from prometheus_client.exposition import generate_latest

import description
from feedback.quality import Quality
from feedback.quality import VersionQuality

MAX_VALUES_PER_SLICE = 50
_SLICE = ['model', 'version', 'slice', 'value']


class _Gauges:

  def __init__(self, registry: CollectorRegistry):
    g = lambda name, doc, labels: Gauge(name, doc, labels, registry=registry)
    self.n = g('live_labelled_examples', 'Labelled predictions behind the figures.', _SLICE)
    self.acc = g('live_accuracy', 'Accuracy on delayed labels.', _SLICE)
    self.acc_low = g('live_accuracy_ci_low', '95% Wilson lower bound of live_accuracy.', _SLICE)
    self.acc_high = g('live_accuracy_ci_high', '95% Wilson upper bound of live_accuracy.', _SLICE)
    cls = _SLICE + ['class']
    self.precision = g('live_class_precision', 'Per-class precision (one vs rest).', cls)
    self.recall = g('live_class_recall', 'Per-class recall (one vs rest).', cls)
    self.recall_low = g('live_class_recall_ci_low', '95% Wilson lower bound of recall.', cls)
    self.recall_high = g('live_class_recall_ci_high', '95% Wilson upper bound of recall.', cls)
    self.f1 = g('live_class_f1', 'Per-class F1 (one vs rest).', cls)
    mv = ['model', 'version']
    self.rare = g('live_rare_class_recall', 'Recall of the rare class.', mv)
    self.rare_low = g('live_rare_class_recall_ci_low', '95% Wilson lower bound.', mv)
    self.rare_high = g('live_rare_class_recall_ci_high', '95% Wilson upper bound.', mv)
    self.awaiting = g('live_awaiting_labels', 'Logged predictions still without a label.', mv)
    self.threshold = g('live_quality_threshold', 'The description\'s blessing gates.',
                       ['model', 'metric'])
    self.offline_acc = g('offline_accuracy', 'Accuracy of the version\'s offline evaluation.', mv)
    self.offline_rare = g('offline_rare_class_recall',
                          'Rare-class recall of the version\'s offline evaluation.', mv)
    self.offline_n = g('offline_evaluation_examples',
                       'Examples behind the version\'s offline evaluation.', mv)
    self.deferral = g('live_deferral_rate', 'Share of logged cases deferred to a person.',
                      _SLICE)
    self.decision_acc = g('live_decision_accuracy', 'Accuracy of the model\'s answers on '
                          'the cases it decided, and on those it deferred.',
                          _SLICE + ['decision'])
    self.omitted = g('live_quality_slice_values_omitted',
                     'Slice values not exported (label bound).', ['model', 'version', 'slice'])


def _set(gauge, labels, value: Optional[float]) -> None:
  # No figure (no labels yet) is no sample, never a misleading 0.
  if value is not None:
    gauge.labels(*labels).set(value)


def _quality(gauges: _Gauges, labels: List[str], q: Quality) -> None:
  gauges.n.labels(*labels).set(q.n)
  _set(gauges.acc, labels, q.accuracy.value)
  _set(gauges.acc_low, labels, q.accuracy.low)
  _set(gauges.acc_high, labels, q.accuracy.high)
  for c in q.precision:
    cl = labels + [c]
    _set(gauges.precision, cl, q.precision[c].value)
    _set(gauges.recall, cl, q.recall[c].value)
    _set(gauges.recall_low, cl, q.recall[c].low)
    _set(gauges.recall_high, cl, q.recall[c].high)
    _set(gauges.f1, cl, q.f1[c])


def _decisions(gauges: _Gauges, labels: List[str], deferral, by_decision) -> None:
  if deferral is not None:
    _set(gauges.deferral, labels, deferral.value)
  for decision, q in by_decision.items():
    _set(gauges.decision_acc, labels + [decision], q.accuracy.value)


def registry_for(spec: description.DatasetSpec, model: str,
                 results: Sequence[VersionQuality],
                 max_values_per_slice: int = MAX_VALUES_PER_SLICE,
                 offline: Optional[Dict[str, Dict[str, float]]] = None
                 ) -> CollectorRegistry:
  """A registry holding the figures of `results` (a fresh one per export).

  `offline`: version -> {'accuracy': .., 'rare_class_recall': ..,
  'examples': ..} of its offline evaluation, exported beside the live figures.
  """
  registry = CollectorRegistry()
  gauges = _Gauges(registry)
  for version, figures in (offline or {}).items():
    _set(gauges.offline_acc, [model, version], figures.get('accuracy'))
    _set(gauges.offline_rare, [model, version], figures.get('rare_class_recall'))
    _set(gauges.offline_n, [model, version], figures.get('examples'))
  for metric in ('min_accuracy', 'min_rare_class_recall'):
    _set(gauges.threshold, [model, metric], getattr(spec.evaluation, metric))
  for r in results:
    _quality(gauges, [model, r.version, 'overall', ''], r.overall)
    gauges.awaiting.labels(model, r.version).set(r.awaiting_labels)
    if spec.rare_class:
      rare = r.overall.recall[spec.rare_class]
      _set(gauges.rare, [model, r.version], rare.value)
      _set(gauges.rare_low, [model, r.version], rare.low)
      _set(gauges.rare_high, [model, r.version], rare.high)
    if r.deferred_any:
      _decisions(gauges, [model, r.version, 'overall', ''], r.deferral, r.by_decision)
    for column in spec.slice_columns:
      values = sorted(((k[1], q) for k, q in r.slices.items() if k[0] == column),
                      key=lambda item: (-item[1].n, item[0]))
      for value, q in values[:max_values_per_slice]:
        _quality(gauges, [model, r.version, column, value], q)
        if r.deferred_any:
          _decisions(gauges, [model, r.version, column, value],
                     r.slice_deferral.get((column, value)),
                     {d: r.slices_by_decision[(column, value, d)]
                      for d in ('decided', 'deferred')
                      if (column, value, d) in r.slices_by_decision})
      if len(values) > max_values_per_slice:
        gauges.omitted.labels(model, r.version, column).set(
            len(values) - max_values_per_slice)
  return registry


def write_textfile(path: str, registry: CollectorRegistry) -> None:
  """Atomically (a temporary file renamed), so a scrape never sees half."""
  write_to_textfile(path, registry)


def exposition(registry: CollectorRegistry) -> str:
  return generate_latest(registry).decode('utf-8')
