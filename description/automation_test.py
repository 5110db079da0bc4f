"""The `automation` section: optional, typed, and wrong settings named by file and field."""

import copy

import pytest

import description
from models.conftest import TINY_DESCRIPTION


def _parse(automation):
  raw = copy.deepcopy(TINY_DESCRIPTION)
  raw['automation'] = automation
  return description.parse(raw, source='tiny.yaml')


def test_without_the_section_nothing_is_automated():
  raw = copy.deepcopy(TINY_DESCRIPTION)
  raw.pop('automation', None)
  assert description.parse(raw, source='tiny.yaml').automation is None


def test_the_section_is_typed_with_defaults_for_what_is_omitted():
  automation = _parse({'target_accuracy': 0.9}).automation
  assert automation == description.Automation(target_accuracy=0.9)
  assert automation.level == 'partial' and automation.max_deferral_rate == 1.0
  automation = _parse({'target_accuracy': 0.95, 'level': 'assist',
                       'max_deferral_rate': 0.3, 'confidence_level': 0.9}).automation
  assert (automation.level, automation.max_deferral_rate, automation.confidence_level) == (
      'assist', 0.3, 0.9)


def test_the_shipped_default_description_documents_the_section_commented_out():
  # Opt-in until the server applies the band: the commented example must parse.
  import re  # pylint: disable=g-import-not-at-top
  import yaml  # pylint: disable=g-import-not-at-top
  with open('data/descriptions/credit_risk.yaml') as f:
    text = f.read()
  assert description.load('data/descriptions/credit_risk.yaml').automation is None
  example = yaml.safe_load(re.search(r'^# automation:\n((?:#   .*\n)+)', text, re.M).group(0)
                           .replace('# ', '', 1).replace('\n#   ', '\n  '))
  spec = description.parse(dict(description.load('data/descriptions/credit_risk.yaml').raw,
                                **example), source='example')
  assert spec.automation.level == 'partial' and 0 < spec.automation.max_deferral_rate < 1


@pytest.mark.parametrize('automation, message', [
    ({}, 'missing required field automation.target_accuracy'),
    ({'target_accuracy': 1.5}, r'automation.target_accuracy must be a number in \[0.0, 1.0\]'),
    ({'target_accuracy': 0.9, 'max_deferral_rate': -0.1}, 'automation.max_deferral_rate'),
    ({'target_accuracy': 0.9, 'target_rare_class_recall': 2}, 'automation.target_rare_class_recall'),
    ({'target_accuracy': 0.9, 'level': 'autopilot'}, "automation.level is 'autopilot'"),
    ({'target_accuracy': 0.9, 'confidence_level': 1.0}, 'automation.confidence_level'),
    ({'target_accuracy': 0.9, 'band': 0.7}, r"unknown field\(s\) automation.\['band'\]"),
    ({'target_accuracy': 0.9, 'level': 'partial', 'max_deferral_rate': 0},
     'partial automation defers some cases'),
    ('yes', '`automation` must be a mapping'),
])
def test_bad_settings_are_errors_naming_file_and_field(automation, message):
  with pytest.raises(description.DatasetSpecError, match=message) as raised:
    _parse(automation)
  assert str(raised.value).startswith('tiny.yaml: ')


def test_a_recall_target_needs_a_rare_class():
  raw = copy.deepcopy(TINY_DESCRIPTION)
  raw['label'].pop('rare_class', None)
  raw['automation'] = {'target_accuracy': 0.9, 'target_rare_class_recall': 0.5}
  with pytest.raises(description.DatasetSpecError, match='label.rare_class is not'):
    description.parse(raw, source='tiny.yaml')
