"""A small request log and labels for the feedback tests."""

import pytest

from serving import request_log

T0 = 1772323200.0  # 2026-03-01T00:00:00Z


def served(key, version, class_id, ts, role='stable', **inputs):
  probs = [0.1, 0.1, 0.1]
  probs[class_id] = 0.8
  return {'ts': ts, 'request_id': f'r-{key}', 'request_key': key, 'model': 'credit_risk',
          'version': version, 'role': role, 'index': 0, 'inputs': inputs,
          'outputs': {'class_ids': [class_id], 'probabilities': [probs]}}


@pytest.fixture
def log_dir(tmp_path):
  """Version 1: 6 requests (k1..k6), version 2: 2 (k7, k8), plus a torn line."""
  directory = tmp_path / 'log'
  log = request_log.RequestLog(str(directory))
  log.write('credit_risk', 1, [
      served('k1', 1, 0, T0 + 1, gender='female', channel='online', annual_income=1.0),
      served('k2', 1, 0, T0 + 2, gender='male', channel='online'),
      served('k3', 1, 2, T0 + 3, gender='female', channel='broker'),
      served('k4', 1, 0, T0 + 4, gender='male', channel='broker'),
      served('k5', 1, 1, T0 + 5, gender='female'),
      served('k6', 1, 0, T0 + 6)])
  log.write('credit_risk', 2, [served('k7', 2, 2, T0 + 86400 * 20),
                               served('k8', 2, 0, T0 + 86400 * 21)])
  log.close()
  with open(directory / 'credit_risk' / '1' / 'requests.jsonl', 'a') as f:
    f.write('{"ts": 1772323210, "request_key": "k9", "outp')  # torn by a crash
  return str(directory)


@pytest.fixture
def labels_csv(tmp_path):
  path = tmp_path / 'labels.csv'
  path.write_text(
      'application_id,outcome,age_band\n'
      'k1,repaid,25-34\n'
      'k2,late,18-24\n'
      'k3,default,\n'
      'k4,default,\n'
      'k4,default,\n'          # repeated, same class: counted once
      'k5,late,\n'
      'k5,repaid,\n'           # conflicting: k5 left out
      'k7,default,\n'
      'k99,repaid,\n'          # no such request
      'k6,approved,\n'         # unknown class
      ',repaid,\n'             # no key
      'k8,repaid\n')           # wrong number of fields
  return str(path)
