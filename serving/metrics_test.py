"""Unit tests of the Prometheus metrics."""

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving.metrics import (CategoricalDomain, NumericRange, ServingMetrics,
                                examples_to_features, parse_feature_ranges)


def samples(metrics: ServingMetrics):
  out = {}
  for fam in text_string_to_metric_families(metrics.render().decode()):
    for s in fam.samples:
      out[(s.name, tuple(sorted(s.labels.items())))] = s.value
  return out


def value(all_samples, name, **labels):
  return all_samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_registries_are_independent():
  a, b = ServingMetrics(), ServingMetrics()
  a.observe_request('m', '1', 'stable', 200, 0.01, 3)
  assert value(samples(a), 'serving_requests_total', model='m', version='1', role='stable',
               code='200') == 1
  assert value(samples(b), 'serving_requests_total', model='m', version='1', role='stable',
               code='200') == 0
  assert value(samples(a), 'process_resident_memory_bytes') > 0


def test_input_metrics_missing_and_out_of_range():
  m = ServingMetrics(feature_ranges={'income': [0, 100], 'home': ['RENT', 'OWN'],
                                     'score': {'min': 300}})
  m.observe_inputs('m', '1', {
      'income': np.array([-1, 50, 150, np.nan, 200], np.float32),
      'home': np.array([b'RENT', b'', b'CASTLE', b'OWN', b'CASTLE'], dtype=object),
      'score': np.array([100, 400, np.nan, np.nan, 900], np.float32),
  })
  s = samples(m)
  assert value(s, 'serving_input_values_total', model='m', version='1', feature='income') == 5
  assert value(s, 'serving_input_missing_total', model='m', version='1', feature='income') == 1
  assert value(s, 'serving_input_missing_total', model='m', version='1', feature='home') == 1
  assert value(s, 'serving_input_missing_total', model='m', version='1', feature='score') == 2
  assert value(s, 'serving_input_out_of_range_total', model='m', version='1',
               feature='income', side='low') == 1
  assert value(s, 'serving_input_out_of_range_total', model='m', version='1',
               feature='income', side='high') == 2
  assert value(s, 'serving_input_out_of_range_total', model='m', version='1',
               feature='home', side='unknown_category') == 2
  assert value(s, 'serving_input_out_of_range_total', model='m', version='1',
               feature='score', side='low') == 1


def test_output_metrics_distribution_and_invalid_values():
  m = ServingMetrics()
  m.observe_outputs('m', '2', 'canary', {
      'probabilities': np.array([[0.9, 0.1], [0.2, 0.8], [np.nan, 0.5], [0.7, 0.7]],
                                np.float32),
      'class_ids': np.array([0, 1, 5, 0]),
      'classes': np.array([b'repaid', b'late', b'', b'repaid'], dtype=object),
  })
  s = samples(m)
  cls = lambda c: value(s, 'serving_predicted_class_total', model='m', version='2',
                        role='canary', **{'class': c})
  assert (cls('repaid'), cls('late')) == (2, 1)
  inv = lambda out, kind: value(s, 'serving_invalid_outputs_total', model='m', version='2',
                                role='canary', output=out, kind=kind)
  assert inv('probabilities', 'nan') == 1
  assert inv('probabilities', 'bad_sum') == 1
  assert inv('class_ids', 'out_of_range') == 1
  assert inv('classes', 'empty') == 1
  assert value(s, 'serving_prediction_confidence_count', model='m', version='2',
               role='canary') == 3


def test_routing_gauges_drop_stale_labels():
  m = ServingMetrics()
  m.observe_routing('m', {'stable': 1, 'canary': 2}, 25)
  m.observe_routing('m', {'stable': 2}, 0)
  s = samples(m)
  assert value(s, 'serving_model_label_info', model='m', label='stable', version='2') == 1
  assert ('serving_model_label_info',
          (('label', 'canary'), ('model', 'm'), ('version', '2'))) not in s
  assert value(s, 'serving_canary_weight_percent', model='m') == 0


def test_an_unloaded_versions_automation_expectations_leave_and_its_counts_stay():
  from serving import automation  # pylint: disable=g-import-not-at-top
  m = ServingMetrics()
  policy = automation.VersionPolicy(min_confidence=0.7, expected_deferral_rate=0.2,
                                    expected_deferral_rate_low=0.15,
                                    expected_deferral_rate_high=0.25, expected_accuracy=0.9)
  for version in ('1', '2'):
    m.observe_load('m', int(version), True)
    m.automation.observe_policy('m', version, policy)
  m.automation.observe_decisions('m', '1', 'partial', automation.decide_batch(
      np.array([[0.9, 0.1], [0.55, 0.45]]), policy, 'partial'))
  m.observe_unload('m', 1)
  m.observe_unload('m', 3)  # never loaded: nothing to remove, no error
  s = samples(m)
  names = {(name, dict(labels).get('version')) for name, labels in s}
  assert ('serving_automation_expected_deferral_rate', '1') not in names
  assert ('serving_automation_expected_accuracy', '1') not in names
  assert value(s, 'serving_automation_expected_deferral_rate', model='m', version='2',
               bound='high') == 0.25
  assert value(s, 'serving_automation_expected_accuracy', model='m', version='2') == 0.9
  assert value(s, 'serving_model_version_available', model='m', version='1') == 0
  decided = {labels: v for (name, labels), v in s.items()
             if name == 'serving_automation_decisions_total' and dict(labels)['version'] == '1'}
  assert sum(decided.values()) == 2, decided


def test_feature_range_parsing():
  r = parse_feature_ranges({'a': [0, None], 'b': ['x'], 'c': {'values': ['y']}})
  assert isinstance(r['a'], NumericRange) and r['a'].high == float('inf')
  assert isinstance(r['b'], CategoricalDomain) and isinstance(r['c'], CategoricalDomain)
  with pytest.raises(ValueError):
    parse_feature_ranges({'a': 5})


def test_examples_to_features():
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  ex = example_pb2.Example()
  ex.features.feature['income'].float_list.value.append(3.0)
  ex.features.feature['home'].bytes_list.value.append(b'OWN')
  f = examples_to_features(np.array([ex.SerializeToString(), b''], dtype=object),
                           {'income': 'float32', 'home': 'string', 'age': 'float32'})
  assert f['income'][0] == 3.0 and np.isnan(f['income'][1])
  assert f['home'].tolist() == [b'OWN', b''] and np.isnan(f['age']).all()
