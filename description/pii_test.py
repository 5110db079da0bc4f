"""The `pii` section: validation, and the drop / keyed-hash treatment."""

import copy

import pytest

import description
from description import pii


def _with_pii(credit_spec, section, **columns):
  raw = copy.deepcopy(credit_spec.raw)
  raw['pii'] = section
  for name, treatment in columns.items():
    raw['columns'][name]['treatment'] = treatment
  return raw


def test_the_default_description_marks_name_and_email(credit_spec):
  assert set(credit_spec.pii.names) == {'applicant_name', 'email'}
  assert not set(credit_spec.pii.names) & set(credit_spec.feature_names)


def test_a_pii_column_with_a_model_treatment_is_rejected(credit_spec):
  raw = _with_pii(credit_spec, {'columns': {'email': 'drop'}}, email='vocabulary')
  with pytest.raises(description.DatasetSpecError,
                     match=r'pii.columns.email: personal data is never a model input'):
    description.parse(raw, 'd.yaml')


@pytest.mark.parametrize('column,role', [('application_id', 'id_column'),
                                         ('gender', 'protected attribute'),
                                         ('outcome', 'label')])
def test_a_column_with_a_readable_role_cannot_be_pii(credit_spec, column, role):
  raw = _with_pii(credit_spec, {'columns': {column: 'drop'}})
  with pytest.raises(description.DatasetSpecError, match=role):
    description.parse(raw, 'd.yaml')


def test_hashing_needs_a_key_variable_and_a_known_treatment(credit_spec):
  with pytest.raises(description.DatasetSpecError, match='pii.key_env is required'):
    description.parse(_with_pii(credit_spec, {'columns': {'email': 'hash'}}), 'd.yaml')
  with pytest.raises(description.DatasetSpecError, match=r"pii.columns.email is 'mask'"):
    description.parse(_with_pii(credit_spec, {'columns': {'email': 'mask'}}), 'd.yaml')
  with pytest.raises(description.DatasetSpecError, match='not in `columns`'):
    description.parse(_with_pii(credit_spec, {'columns': {'phone': 'drop'}}), 'd.yaml')


def test_drop_removes_and_hash_is_keyed_and_deterministic():
  spec = pii.PII(columns=(('name', 'drop'), ('email', 'hash')), key_env='K')
  redact = pii.Redactor(spec, {'K': 'secret'})
  out = redact.apply({'id': '1', 'name': 'Ann Lee', 'email': 'a@x.org', 'email2': ''})
  assert 'name' not in out and out['id'] == '1'
  assert out['email'].startswith(pii.HASH_PREFIX) and 'a@x.org' not in out['email']
  assert redact.apply({'email': 'a@x.org'}) == {'email': out['email']}
  other_key = pii.Redactor(spec, {'K': 'other'}).apply({'email': 'a@x.org'})
  assert other_key['email'] != out['email']
  assert redact.apply({'email': ''}) == {'email': ''}  # Missing stays missing.
  # Redacting twice (replay rows, then the request log) hashes once, so the
  # logged key still joins with labels hashed once.
  assert redact.apply(redact.apply({'email': 'a@x.org'})) == {'email': out['email']}
  assert redact.hash_column([out['email'], 'a@x.org']) == [out['email']] * 2


def test_a_missing_key_is_an_error_naming_the_variable():
  spec = pii.PII(columns=(('email', 'hash'),), key_env='MY_PII_KEY')
  with pytest.raises(description.PIIKeyError, match='MY_PII_KEY'):
    pii.Redactor(spec, {}, 'd.yaml')
  # Dropping needs no key.
  assert pii.Redactor(pii.PII(columns=(('email', 'drop'),)), {}).apply(
      {'email': 'x', 'a': 1}) == {'a': 1}
