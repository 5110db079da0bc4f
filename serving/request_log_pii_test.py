"""Personal data a client sends never reaches the request log raw.

The description's pii section (email and applicant_name: drop) applies to
what the server logs: a sticky field that is personal data is dropped from
the logged key (or hashed, when the description hashes it, so hashed labels
still join); instances carrying personal columns the model does not take are
refused before anything is logged. Planted unique values, then a grep of
every file under the log directory.
"""

import os

import pytest
import yaml

import description
from pipeline import configs
from serving.request_log import RequestLogReader
from testing.serving_fixtures import MODEL, rows

PLANTED_EMAIL = 'planted.8c1f0e@example.invalid'
PLANTED_NAME = 'Zebulon Quarternight-7731'


def _every_file_text(directory):
  texts = []
  for folder, _, files in os.walk(directory):
    for name in files:
      with open(os.path.join(folder, name), 'rb') as f:
        texts.append(f.read().decode('utf-8', 'replace'))
  return '\n'.join(texts)


def _send(client):
  keyed = rows(3, key_field='email')
  for i, row in enumerate(keyed):
    row['email'] = f'{i}.{PLANTED_EMAIL}'
  status, body, _ = client.predict({'instances': keyed})
  assert status == 200, body
  # A personal column the model does not take: refused (400), so never logged.
  extra = dict(rows(1)[0], applicant_name=PLANTED_NAME)
  status, body, _ = client.predict({'instances': [extra]})
  assert status == 400 and 'applicant_name' in str(body), body
  status, body, _ = client.predict({'instances': rows(1)},
                                   headers={'X-Request-Key': f'h.{PLANTED_EMAIL}'})
  assert status == 200, body


def test_dropped_personal_key_is_not_logged(tmp_path, make_root, serve):
  spec = description.load(configs.DEFAULT_DESCRIPTION)
  srv, client = serve(make_root({1: 'mixed'}), sticky_field='email',
                      pii_redactor=description.redactor(spec))
  _send(client)
  srv.shutdown()
  logged = _every_file_text(str(tmp_path / 'requests'))
  assert logged.count('"version": 1') + logged.count('"version":1') >= 4, logged[:2000]
  assert 'planted' not in logged and PLANTED_NAME not in logged, logged[:2000]
  records = list(RequestLogReader(str(tmp_path / 'requests')).records(model=MODEL))
  assert [r['request_key'] for r in records] == [None] * 4


def test_hashed_personal_key_is_logged_as_its_hash(tmp_path, make_root, serve, monkeypatch):
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)
  raw['pii']['columns']['email'] = 'hash'
  path = tmp_path / 'hashing.yaml'
  path.write_text(yaml.safe_dump(raw))
  spec = description.load(str(path))
  monkeypatch.setenv(spec.pii.key_env, 'test-key')
  redactor = description.redactor(spec)
  srv, client = serve(make_root({1: 'mixed'}), sticky_field='email', pii_redactor=redactor)
  _send(client)
  srv.shutdown()
  logged = _every_file_text(str(tmp_path / 'requests'))
  assert 'planted' not in logged and PLANTED_NAME not in logged, logged[:2000]
  keys = [r['request_key'] for r in
          RequestLogReader(str(tmp_path / 'requests')).records(model=MODEL)]
  expected = [redactor.apply({'email': f'{i}.{PLANTED_EMAIL}'})['email'] for i in range(3)]
  expected.append(redactor.apply({'email': f'h.{PLANTED_EMAIL}'})['email'])
  assert sorted(keys) == sorted(expected)


def test_without_a_description_nothing_changes(tmp_path, make_root, serve):
  srv, client = serve(make_root({1: 'mixed'}), sticky_field='application_id')
  status, _, _ = client.predict({'instances': rows(2, key_field='application_id')})
  assert status == 200
  srv.shutdown()
  keys = [r['request_key'] for r in
          RequestLogReader(str(tmp_path / 'requests')).records(model=MODEL)]
  assert keys == ['app-0', 'app-1']
