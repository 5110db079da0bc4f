"""Canary guardrails: is the candidate worse than stable? Pure functions, no I/O.

Each check compares what one version answered (`Sample`) with what the other
answered on the same replayed traffic and returns a `CheckResult` whose status
is one of

  pass          enough evidence, and no breach;
  breach        the candidate is worse: both the effect is larger than the
                threshold AND a one-sided test says it is not chance;
  insufficient  too few observations to pass (a breach can still be declared
                early: an effect that is already significant is not waited on);
  skipped       the check does not apply (e.g. no labels yet).

Requiring an effect size AND significance is deliberate: with thousands of
requests every tiny difference is "significant", and with a dozen every large
one can be noise. `evaluate()` splits its alpha over its statistical checks and
a rollout that looks k times divides its alpha by k (Bonferroni both times), so
Thresholds.alpha bounds the chance that a whole rollout rolls back a candidate
that is as good as stable.

Relative checks (a stable version exists):
  error_rate              Fisher's exact test (errors more frequent on canary)
  latency_p99             p99 ratio and absolute increase; Mann-Whitney U
  prediction_distribution Jensen-Shannon distance + chi-square homogeneity of
                          the predicted classes; Kolmogorov-Smirnov on the
                          rare-class score. With labels, a mix that moved
                          toward the labels' while accuracy passed is no
                          breach (a model retrained after concept drift)
  accuracy                one-sided two-proportion z-test with a margin
  rare_class_recall       Fisher's exact test on the rare class's hits
  deferral_rate           (answers carry serving/automation.py decisions)
                          Fisher's exact test: the canary defers more cases
                          to a person than stable, by more than a margin
  automated_accuracy      (the same, with labels) the z-test of `accuracy` on
                          the cases each version decided itself

Absolute checks (shadow mode, the first deployment: nothing to compare with):
  error rate and accuracy / rare recall by one-sided binomial tests against
  fixed limits, p99 against a latency budget, the predicted class mix against
  the labels' class mix.

Longer than 400 lines because every check shares the Sample, the Thresholds
and the one alpha budget `evaluate()` splits; apart, the split could not see
how many checks apply.
"""

import dataclasses
import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from scipy import stats

from rollout.statistics import (binomial_greater, binomial_less, chi2_goodness_p,  # noqa: F401
                                chi2_homogeneity_p, class_counts, fisher_greater,
                                js_distance, percentile, two_proportion_drop_p)

PASS = 'pass'
BREACH = 'breach'
INSUFFICIENT = 'insufficient'
SKIPPED = 'skipped'


@dataclasses.dataclass(frozen=True)
class Thresholds:
  """Guardrail limits. Drops and increases are candidate vs stable."""
  alpha: float = 0.05  # false-alarm rate of one guardrail over a whole rollout
  min_samples: int = 50  # requests a version needs before a check can pass
  min_rare_positives: int = 10  # labelled rare-class rows before recall can pass
  # error rate: canary minus stable (absolute rate in shadow mode)
  max_error_rate_increase: float = 0.01
  max_error_rate: float = 0.01
  # latency: the p99 may grow by this factor AND this many ms before it breaches
  max_p99_ratio: float = 1.5
  min_p99_increase_ms: float = 10.0
  max_p99_ms: float = 1000.0  # shadow mode: absolute budget
  # prediction distributions
  max_js_distance: float = 0.1  # of predicted-class frequencies, base 2, in [0, 1]
  max_ks_statistic: float = 0.2  # of the rare-class (or top) probability
  # delayed labels
  max_accuracy_drop: float = 0.02
  max_rare_recall_drop: float = 0.10
  # partial automation: deferral rate increase, automated accuracy drop
  max_deferral_rate_increase: float = 0.05
  max_automated_accuracy_drop: float = 0.02
  min_accuracy: Optional[float] = None  # shadow mode
  min_rare_recall: Optional[float] = None  # shadow mode
  # Checks that must reach `pass` by the last step for a promotion. The label
  # checks are not required by default: labels arrive late, often too late.
  required: Sequence[str] = ('error_rate', 'latency_p99', 'prediction_distribution')

  def to_json(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    d['required'] = list(self.required)
    return d

  @classmethod
  def from_json(cls, d: Optional[Dict[str, Any]]) -> 'Thresholds':
    d = dict(d or {})
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f'unknown guardrail threshold(s) {sorted(unknown)}; known: '
                       f'{sorted(f.name for f in dataclasses.fields(cls))}')
    if 'required' in d:
      d['required'] = tuple(d['required'])
    return cls(**d)


@dataclasses.dataclass
class Sample:
  """What one version answered.

  requests/errors count distinct request keys (a replayed row hits a version
  more than once across steps; counting it again would fake evidence).
  latencies_ms has one entry per successful request (every request is a
  latency measurement). predicted/scores/labels are aligned, one row per key
  answered; labels are class ids, -1 where the label is unknown.
  """
  requests: int = 0
  errors: int = 0
  latencies_ms: Sequence[float] = ()
  predicted: Sequence[int] = ()
  scores: Any = None  # [n, K] probabilities, or None
  labels: Sequence[int] = ()
  # Aligned with predicted: True where the server deferred the case to a
  # person, None where its answer carried no decision (level full).
  deferred: Sequence[Optional[bool]] = ()

  @property
  def error_rate(self) -> float:
    return self.errors / self.requests if self.requests else float('nan')


@dataclasses.dataclass
class CheckResult:
  name: str
  status: str
  reason: str
  metrics: Dict[str, Any] = dataclasses.field(default_factory=dict)

  def to_json(self) -> Dict[str, Any]:
    return {'name': self.name, 'status': self.status, 'reason': self.reason,
            'metrics': {k: json_safe(v) for k, v in self.metrics.items()}}


def json_safe(v: Any) -> Any:
  if isinstance(v, (np.floating, float)):
    v = float(v)
    return v if math.isfinite(v) else None
  if isinstance(v, np.integer):
    return int(v)
  if isinstance(v, (list, tuple)):
    return [json_safe(x) for x in v]
  return v


def _verdict(name: str, breach: bool, enough: bool, breach_reason: str,
             pass_reason: str, metrics: Dict[str, Any], few_reason: str) -> CheckResult:
  if breach:
    return CheckResult(name, BREACH, breach_reason, metrics)
  if not enough:
    return CheckResult(name, INSUFFICIENT, few_reason, metrics)
  return CheckResult(name, PASS, pass_reason, metrics)


# --------------------------------------------------------------- relative
def error_rate_check(canary: Sample, stable: Sample, th: Thresholds,
                     alpha: float) -> CheckResult:
  rc, rs = canary.error_rate, stable.error_rate
  p = fisher_greater(canary.errors, canary.requests, stable.errors, stable.requests)
  increase = (rc - rs) if canary.requests and stable.requests else float('nan')
  breach = (canary.requests > 0 and stable.requests > 0 and
            increase > th.max_error_rate_increase and p < alpha)
  metrics = {'canary_error_rate': rc, 'stable_error_rate': rs, 'increase': increase,
             'canary_errors': canary.errors, 'canary_requests': canary.requests,
             'stable_errors': stable.errors, 'stable_requests': stable.requests,
             'p_value': p, 'alpha': alpha, 'threshold': th.max_error_rate_increase}
  return _verdict(
      'error_rate', breach, min(canary.requests, stable.requests) >= th.min_samples,
      f'canary error rate {rc:.1%} ({canary.errors}/{canary.requests}) vs stable '
      f'{rs:.1%} ({stable.errors}/{stable.requests}): +{increase:.1%} > '
      f'{th.max_error_rate_increase:.1%}, Fisher p={p:.2g} < {alpha:.2g}',
      f'canary error rate {rc:.1%} vs stable {rs:.1%} (p={p:.2g})', metrics,
      f'{min(canary.requests, stable.requests)} requests < {th.min_samples}')


def latency_check(canary: Sample, stable: Sample, th: Thresholds,
                  alpha: float) -> CheckResult:
  lc, ls = np.asarray(canary.latencies_ms, float), np.asarray(stable.latencies_ms, float)
  p99c, p99s = percentile(lc, 99), percentile(ls, 99)
  ratio = p99c / p99s if lc.size and ls.size and p99s > 0 else float('nan')
  if lc.size and ls.size:
    p = float(stats.mannwhitneyu(lc, ls, alternative='greater').pvalue)
  else:
    p = 1.0
  breach = (lc.size > 0 and ls.size > 0 and ratio > th.max_p99_ratio and
            p99c - p99s > th.min_p99_increase_ms and p < alpha)
  metrics = {'canary_p50_ms': percentile(lc, 50), 'stable_p50_ms': percentile(ls, 50),
             'canary_p99_ms': p99c, 'stable_p99_ms': p99s, 'p99_ratio': ratio,
             'canary_n': int(lc.size), 'stable_n': int(ls.size), 'p_value': p,
             'alpha': alpha, 'threshold_ratio': th.max_p99_ratio,
             'threshold_increase_ms': th.min_p99_increase_ms}
  return _verdict(
      'latency_p99', breach, min(lc.size, ls.size) >= th.min_samples,
      f'canary p99 {p99c:.1f} ms vs stable {p99s:.1f} ms: x{ratio:.2f} > '
      f'x{th.max_p99_ratio} and +{p99c - p99s:.1f} ms > {th.min_p99_increase_ms} ms, '
      f'Mann-Whitney p={p:.2g} < {alpha:.2g}',
      f'canary p99 {p99c:.1f} ms vs stable {p99s:.1f} ms (x{ratio:.2f})', metrics,
      f'{min(lc.size, ls.size)} latencies < {th.min_samples}')


def _score_column(scores: Any, k: int, rare_id: Optional[int]) -> Optional[np.ndarray]:
  if scores is None:
    return None
  s = np.asarray(scores, dtype=np.float64)
  if s.ndim != 2 or s.shape[0] == 0:
    return None
  if rare_id is not None and rare_id < s.shape[1]:
    return s[:, rare_id]
  return s.max(axis=1)


def distribution_check(canary: Sample, stable: Sample, k: int, rare_id: Optional[int],
                       th: Thresholds, alpha: float) -> CheckResult:
  cc, cs = class_counts(canary.predicted, k), class_counts(stable.predicted, k)
  js = js_distance(cc, cs)
  p_chi = chi2_homogeneity_p(cc, cs)
  sc, ss = _score_column(canary.scores, k, rare_id), _score_column(stable.scores, k, rare_id)
  if sc is not None and ss is not None and sc.size and ss.size:
    ks = stats.ks_2samp(sc, ss)
    ks_stat, p_ks = float(ks.statistic), float(ks.pvalue)
  else:
    ks_stat, p_ks = float('nan'), 1.0
  class_breach = js > th.max_js_distance and p_chi < alpha
  score_breach = ks_stat > th.max_ks_statistic and p_ks < alpha
  metrics = {'js_distance': js, 'chi2_p_value': p_chi, 'ks_statistic': ks_stat,
             'ks_p_value': p_ks, 'canary_class_counts': cc.tolist(),
             'stable_class_counts': cs.tolist(), 'alpha': alpha,
             'threshold_js': th.max_js_distance, 'threshold_ks': th.max_ks_statistic}
  parts = []
  if class_breach:
    parts.append(f'predicted classes differ: JS distance {js:.3f} > {th.max_js_distance} '
                 f'(canary {cc.tolist()} vs stable {cs.tolist()}), chi-square '
                 f'p={p_chi:.2g} < {alpha:.2g}')
  if score_breach:
    parts.append(f'{"rare-class" if rare_id is not None else "top"} scores differ: KS '
                 f'{ks_stat:.3f} > {th.max_ks_statistic}, p={p_ks:.2g} < {alpha:.2g}')
  n = min(int(cc.sum()), int(cs.sum()))
  return _verdict('prediction_distribution', bool(parts), n >= th.min_samples,
                  '; '.join(parts),
                  f'JS distance {js:.3f}, KS {ks_stat:.3f}', metrics,
                  f'{n} predictions < {th.min_samples}')


def _labelled(sample: Sample):
  labels = np.asarray(sample.labels, dtype=np.int64)
  predicted = np.asarray(sample.predicted, dtype=np.int64)
  if labels.size != predicted.size:
    raise ValueError(f'{labels.size} labels for {predicted.size} predictions')
  known = labels >= 0
  return labels[known], predicted[known]


def accuracy_check(canary: Sample, stable: Sample, th: Thresholds,
                   alpha: float) -> CheckResult:
  yc, pc = _labelled(canary)
  ys, ps = _labelled(stable)
  if yc.size == 0 or ys.size == 0:
    return CheckResult('accuracy', SKIPPED, 'no labelled predictions (labels not '
                       'joined yet)', {'canary_n': int(yc.size), 'stable_n': int(ys.size)})
  hc, hs = int((yc == pc).sum()), int((ys == ps).sum())
  ac, as_ = hc / yc.size, hs / ys.size
  p = two_proportion_drop_p(hs, ys.size, hc, yc.size, th.max_accuracy_drop)
  metrics = {'canary_accuracy': ac, 'stable_accuracy': as_, 'drop': as_ - ac,
             'canary_n': int(yc.size), 'stable_n': int(ys.size), 'p_value': p,
             'alpha': alpha, 'threshold': th.max_accuracy_drop}
  return _verdict(
      'accuracy', p < alpha, min(yc.size, ys.size) >= th.min_samples,
      f'canary accuracy {ac:.3f} vs stable {as_:.3f}: the drop exceeds '
      f'{th.max_accuracy_drop} (z-test p={p:.2g} < {alpha:.2g})',
      f'canary accuracy {ac:.3f} vs stable {as_:.3f} (p={p:.2g})', metrics,
      f'{min(yc.size, ys.size)} labelled rows < {th.min_samples}')


def rare_recall_check(canary: Sample, stable: Sample, rare_id: Optional[int],
                      th: Thresholds, alpha: float) -> CheckResult:
  if rare_id is None:
    return CheckResult('rare_class_recall', SKIPPED, 'the dataset declares no rare class')
  yc, pc = _labelled(canary)
  ys, ps = _labelled(stable)
  nc, ns = int((yc == rare_id).sum()), int((ys == rare_id).sum())
  if nc == 0 or ns == 0:
    return CheckResult('rare_class_recall', SKIPPED if yc.size == 0 else INSUFFICIENT,
                       f'rare-class rows with labels: canary {nc}, stable {ns}',
                       {'canary_positives': nc, 'stable_positives': ns})
  tc = int(((yc == rare_id) & (pc == rare_id)).sum())
  ts = int(((ys == rare_id) & (ps == rare_id)).sum())
  rc, rs = tc / nc, ts / ns
  # Stable's hit rate greater than canary's, i.e. the canary misses more.
  p = fisher_greater(ts, ns, tc, nc)
  breach = rs - rc > th.max_rare_recall_drop and p < alpha
  metrics = {'canary_recall': rc, 'stable_recall': rs, 'drop': rs - rc,
             'canary_positives': nc, 'stable_positives': ns, 'p_value': p,
             'alpha': alpha, 'threshold': th.max_rare_recall_drop}
  return _verdict(
      'rare_class_recall', breach, min(nc, ns) >= th.min_rare_positives,
      f'canary rare-class recall {rc:.2f} ({tc}/{nc}) vs stable {rs:.2f} ({ts}/{ns}): '
      f'drop {rs - rc:.2f} > {th.max_rare_recall_drop}, Fisher p={p:.2g} < {alpha:.2g}',
      f'canary rare-class recall {rc:.2f} vs stable {rs:.2f} (p={p:.2g})', metrics,
      f'{min(nc, ns)} labelled rare-class rows < {th.min_rare_positives}')


def _decisions(sample: Sample) -> Optional[np.ndarray]:
  """True where deferred, per answer; None unless every answer carried a decision."""
  if not len(sample.deferred) or any(d is None for d in sample.deferred):
    return None
  return np.asarray(sample.deferred, dtype=bool)


def _no_decisions(name: str, dc: Optional[np.ndarray],
                  ds: Optional[np.ndarray]) -> Optional[CheckResult]:
  if dc is None or ds is None:
    return CheckResult(name, SKIPPED, 'the answers carry no automation decision (level full)')
  return None


def deferral_check(canary: Sample, stable: Sample, th: Thresholds,
                   alpha: float) -> CheckResult:
  dc, ds = _decisions(canary), _decisions(stable)
  skipped = _no_decisions('deferral_rate', dc, ds)
  if skipped:
    return skipped
  kc, ks = int(dc.sum()), int(ds.sum())
  rc, rs = kc / dc.size, ks / ds.size
  p = fisher_greater(kc, int(dc.size), ks, int(ds.size))
  increase = rc - rs
  metrics = {'canary_deferral_rate': rc, 'stable_deferral_rate': rs, 'increase': increase,
             'canary_deferred': kc, 'canary_n': int(dc.size), 'stable_deferred': ks,
             'stable_n': int(ds.size), 'p_value': p, 'alpha': alpha,
             'threshold': th.max_deferral_rate_increase}
  return _verdict(
      'deferral_rate', increase > th.max_deferral_rate_increase and p < alpha,
      min(dc.size, ds.size) >= th.min_samples,
      f'canary defers {rc:.1%} of cases ({kc}/{dc.size}) to a person vs stable {rs:.1%} '
      f'({ks}/{ds.size}): +{increase:.1%} > {th.max_deferral_rate_increase:.1%}, Fisher '
      f'p={p:.2g} < {alpha:.2g}',
      f'canary defers {rc:.1%} vs stable {rs:.1%} (p={p:.2g})', metrics,
      f'{min(dc.size, ds.size)} decisions < {th.min_samples}')


def automated_accuracy_check(canary: Sample, stable: Sample, th: Thresholds,
                             alpha: float) -> CheckResult:
  dc, ds = _decisions(canary), _decisions(stable)
  skipped = _no_decisions('automated_accuracy', dc, ds)
  if skipped:
    return skipped
  automated = [dataclasses.replace(
      s, predicted=np.asarray(s.predicted)[~d], labels=np.asarray(s.labels)[~d])
               for s, d in ((canary, dc), (stable, ds))]
  result = accuracy_check(automated[0], automated[1], dataclasses.replace(
      th, max_accuracy_drop=th.max_automated_accuracy_drop), alpha)
  return CheckResult('automated_accuracy', result.status,
                     result.reason.replace('accuracy', 'automated accuracy', 2),
                     result.metrics)


def evaluate(canary: Sample, stable: Sample, num_classes: int, rare_id: Optional[int],
             th: Thresholds, alpha: float) -> List[CheckResult]:
  """All relative checks of the canary against stable; `alpha` is for them all."""
  automated = _decisions(canary) is not None and _decisions(stable) is not None
  alpha = alpha / (7 if automated else 5)
  accuracy = accuracy_check(canary, stable, th, alpha)
  return [
      error_rate_check(canary, stable, th, alpha),
      latency_check(canary, stable, th, alpha),
      _unless_labels_explain(
          distribution_check(canary, stable, num_classes, rare_id, th, alpha),
          accuracy, canary, stable, num_classes),
      accuracy,
      rare_recall_check(canary, stable, rare_id, th, alpha),
      deferral_check(canary, stable, th, alpha),
      automated_accuracy_check(canary, stable, th, alpha),
  ]


def _unless_labels_explain(distribution: CheckResult, accuracy: CheckResult,
                           canary: Sample, stable: Sample, k: int) -> CheckResult:
  """A class mix unlike stable's is no breach when the labels explain it.

  The class-mix check stands in for labels when there are none. Where the
  replayed rows have labels, accuracy passed (enough of them, no significant
  drop) and the candidate's predicted mix is closer to the labels' mix than
  stable's is, the candidate differs from stable by being more like the
  truth: what a model retrained after concept drift is meant to do (the
  loop's month 5: canary [205, 68, 27] vs stable [184, 88, 9], accuracy 0.780
  vs 0.698, rolled back on JS 0.125 > 0.1).
  """
  if distribution.status != BREACH or accuracy.status != PASS:
    return distribution
  yc, pc = _labelled(canary)
  ys, ps = _labelled(stable)
  truth = class_counts(np.concatenate([yc, ys]), k)
  to_labels_canary = js_distance(class_counts(pc, k), truth)
  to_labels_stable = js_distance(class_counts(ps, k), truth)
  if not to_labels_canary < to_labels_stable:
    return distribution
  metrics = dict(distribution.metrics, js_to_labels_canary=to_labels_canary,
                 js_to_labels_stable=to_labels_stable, label_class_counts=truth.tolist(),
                 explained_by_labels=True)
  return CheckResult(
      distribution.name, PASS,
      f'{distribution.reason}; explained by the labels: the canary\'s predicted classes '
      f'are closer to the labels\' mix {truth.tolist()} (JS {to_labels_canary:.3f} vs '
      f'stable\'s {to_labels_stable:.3f}) and its accuracy is not worse', metrics)


# --------------------------------------------------------------- absolute
def evaluate_absolute(candidate: Sample, num_classes: int, rare_id: Optional[int],
                      th: Thresholds, alpha: float) -> List[CheckResult]:
  """Shadow mode: the candidate against fixed limits; `alpha` is for them all."""
  alpha = alpha / 4  # error rate, class mix, accuracy, rare recall (p99 has no test)
  out = []
  n, e = candidate.requests, candidate.errors
  p = binomial_greater(e, n, th.max_error_rate)
  out.append(_verdict(
      'error_rate', n > 0 and candidate.error_rate > th.max_error_rate and p < alpha,
      n >= th.min_samples,
      f'error rate {candidate.error_rate:.1%} ({e}/{n}) > {th.max_error_rate:.1%}, '
      f'binomial p={p:.2g} < {alpha:.2g}',
      f'error rate {candidate.error_rate:.1%} ({e}/{n})',
      {'error_rate': candidate.error_rate, 'errors': e, 'requests': n, 'p_value': p,
       'alpha': alpha, 'threshold': th.max_error_rate},
      f'{n} requests < {th.min_samples}'))

  lat = np.asarray(candidate.latencies_ms, float)
  p99 = percentile(lat, 99)
  out.append(_verdict(
      'latency_p99', lat.size > 0 and p99 > th.max_p99_ms, lat.size >= th.min_samples,
      f'p99 {p99:.1f} ms > budget {th.max_p99_ms} ms', f'p99 {p99:.1f} ms',
      {'p50_ms': percentile(lat, 50), 'p99_ms': p99, 'n': int(lat.size),
       'threshold_ms': th.max_p99_ms}, f'{lat.size} latencies < {th.min_samples}'))

  y, pred = _labelled(candidate)
  if y.size == 0:
    out.append(CheckResult('prediction_distribution', SKIPPED,
                           'no labels to compare the predicted class mix with'))
    out.append(CheckResult('accuracy', SKIPPED, 'no labelled predictions'))
    out.append(CheckResult('rare_class_recall', SKIPPED, 'no labelled predictions'))
    return out
  pc, lc = class_counts(pred, num_classes), class_counts(y, num_classes)
  js = js_distance(pc, lc)
  p_chi = chi2_goodness_p(pc, lc / max(lc.sum(), 1))
  out.append(_verdict(
      'prediction_distribution', js > th.max_js_distance and p_chi < alpha,
      int(pc.sum()) >= th.min_samples,
      f'predicted classes {pc.tolist()} vs labels {lc.tolist()}: JS distance {js:.3f} > '
      f'{th.max_js_distance}, chi-square p={p_chi:.2g} < {alpha:.2g}',
      f'predicted classes {pc.tolist()} vs labels {lc.tolist()} (JS {js:.3f})',
      {'js_distance': js, 'chi2_p_value': p_chi, 'predicted_class_counts': pc.tolist(),
       'label_class_counts': lc.tolist(), 'alpha': alpha, 'threshold_js': th.max_js_distance},
      f'{int(pc.sum())} predictions < {th.min_samples}'))

  hits = int((y == pred).sum())
  acc = hits / y.size
  if th.min_accuracy is None:
    out.append(CheckResult('accuracy', SKIPPED, f'accuracy {acc:.3f}; no min_accuracy set',
                           {'accuracy': acc, 'n': int(y.size)}))
  else:
    p = binomial_less(hits, int(y.size), th.min_accuracy)
    out.append(_verdict(
        'accuracy', acc < th.min_accuracy and p < alpha, y.size >= th.min_samples,
        f'accuracy {acc:.3f} < {th.min_accuracy}, binomial p={p:.2g} < {alpha:.2g}',
        f'accuracy {acc:.3f} (min {th.min_accuracy})',
        {'accuracy': acc, 'n': int(y.size), 'p_value': p, 'alpha': alpha,
         'threshold': th.min_accuracy}, f'{y.size} labelled rows < {th.min_samples}'))

  if rare_id is None or th.min_rare_recall is None:
    out.append(CheckResult('rare_class_recall', SKIPPED,
                           'no rare class or no min_rare_recall set'))
  else:
    pos = int((y == rare_id).sum())
    tp = int(((y == rare_id) & (pred == rare_id)).sum())
    recall = tp / pos if pos else float('nan')
    p = binomial_less(tp, pos, th.min_rare_recall)
    out.append(_verdict(
        'rare_class_recall', pos > 0 and recall < th.min_rare_recall and p < alpha,
        pos >= th.min_rare_positives,
        f'rare-class recall {recall:.2f} ({tp}/{pos}) < {th.min_rare_recall}, '
        f'binomial p={p:.2g} < {alpha:.2g}',
        f'rare-class recall {recall:.2f} ({tp}/{pos})',
        {'recall': recall, 'positives': pos, 'p_value': p, 'alpha': alpha,
         'threshold': th.min_rare_recall},
        f'{pos} labelled rare-class rows < {th.min_rare_positives}'))
  return out


def breaches(results: Sequence[CheckResult]) -> List[CheckResult]:
  return [r for r in results if r.status == BREACH]


def unmet_required(results: Sequence[CheckResult], th: Thresholds) -> List[CheckResult]:
  """Required checks still short of evidence (e.g. insufficient at the last step).

  A check that does not apply (skipped) does not block.
  """
  return [r for r in results if r.name in th.required and r.status not in (PASS, SKIPPED)]
