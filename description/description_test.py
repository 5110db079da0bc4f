"""The dataset description: parsing, validation, derived views."""

import copy
import os

import pytest
import yaml

import description
from models.conftest import TINY_DESCRIPTION

DESCRIPTIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data',
                            'descriptions')


def test_default_description_loads_with_protected_attributes_out_of_the_model():
  spec = description.load(os.path.join(DESCRIPTIONS, 'credit_risk.yaml'))
  assert spec.classes == ('repaid', 'late', 'default')
  assert spec.rare_class_id == 2
  assert set(spec.protected_attributes) == {'gender', 'age_band', 'ethnicity'}
  inputs = set(spec.feature_names)
  assert not inputs & set(spec.protected_attributes)
  assert not inputs & set(spec.tags)
  assert spec.label not in inputs and spec.id_column not in inputs
  assert 'annual_income' in inputs and 'credit_score' in inputs


def test_every_shipped_description_is_valid():
  names = [n for n in os.listdir(DESCRIPTIONS) if n.endswith('.yaml')]
  assert len(names) >= 2  # the default and a second, different example
  for name in names:
    spec = description.load(os.path.join(DESCRIPTIONS, name))
    assert spec.features()
    with open(os.path.join(DESCRIPTIONS, name)) as f:
      assert spec.name == yaml.safe_load(f)['name']


def test_config_round_trip_preserves_the_spec():
  spec = description.parse(TINY_DESCRIPTION, source='tiny')
  again = description.DatasetSpec.from_config(spec.to_config())
  assert again == spec


@pytest.mark.parametrize('mutate, message', [
    (lambda d: d['columns']['income'].update(type='decimal'), r'columns\.income\.type'),
    (lambda d: d['columns']['city'].update(treatment='scale'), 'needs a numeric column'),
    (lambda d: d['columns']['score'].update(buckets=1), 'buckets must be >= 2'),
    (lambda d: d['label'].update(column='nope'), "label.column 'nope'"),
    (lambda d: d['label'].update(rare_class='nope'), 'rare_class'),
    (lambda d: d['label'].update(classes=['a']), 'at least two distinct classes'),
    (lambda d: d['label'].update(classes=[False, True]), r'label\.classes: YAML read \[False, True\] as booleans'),
    (lambda d: d['label'].update(rare_class=True), r'label\.rare_class: YAML read'),
    (lambda d: d.update(tags=['branch']), r"tags names columns not in `columns`: \['branch'\]"),
    (lambda d: d['columns']['gender'].update(treatment='vocabulary'), 'protected attributes'),
    (lambda d: d.pop('input'), 'missing required field input'),
    (lambda d: d['columns']['row_id'].update(treatment='vocabulary'), 'id_column'),
])
def test_malformed_descriptions_are_rejected_with_the_field_named(mutate, message):
  raw = copy.deepcopy(TINY_DESCRIPTION)
  mutate(raw)
  with pytest.raises(description.DatasetSpecError, match=message):
    description.parse(raw, source='tiny.yaml')


def test_unreadable_and_invalid_yaml_files_name_the_file(tmp_path):
  with pytest.raises(description.DatasetSpecError, match='cannot read'):
    description.load(str(tmp_path / 'missing.yaml'))
  bad = tmp_path / 'bad.yaml'
  bad.write_text('name: [unclosed\n')
  with pytest.raises(description.DatasetSpecError, match='bad.yaml: not valid YAML'):
    description.load(str(bad))
  good = tmp_path / 'good.yaml'
  good.write_text(yaml.safe_dump(TINY_DESCRIPTION))
  assert description.load(str(good)).name == 'tiny'


def test_validation_section_defaults_and_per_column_drift_actions():
  spec = description.parse(TINY_DESCRIPTION, source='tiny')
  assert spec.validation == description.ValidationPolicy()
  assert spec.drift_action('income') == 'block'  # The default default.
  raw = copy.deepcopy(TINY_DESCRIPTION)
  raw['columns']['gender']['drift'] = 'warn'
  raw['validation'] = {
      'drift_default': 'warn',
      'default_thresholds': {'categorical_linf': 0.1, 'numeric_jsd': 0.2},
      'label_drift': {'action': 'warn', 'threshold': 0.07, 'min_z': 3, 'bins': 4,
                      'min_bin_rows': 50, 'max_rows': 1000}}
  spec = description.parse(raw, source='tiny')
  assert spec.drift_action('gender') == 'warn'
  assert spec.drift_action('income') == 'warn'
  policy = spec.validation
  assert (policy.categorical_linf, policy.numeric_jsd) == (0.1, 0.2)
  assert (policy.label_drift_action, policy.label_drift_threshold,
          policy.label_drift_min_z, policy.label_drift_bins,
          policy.label_drift_min_bin_rows, policy.label_drift_max_rows) == (
              'warn', 0.07, 3.0, 4, 50, 1000)
  # Survives the trip through custom_config.
  assert description.DatasetSpec.from_config(spec.to_config()).validation == policy


def test_default_description_blocks_drift_of_inputs_and_label_only():
  spec = description.load(os.path.join(DESCRIPTIONS, 'credit_risk.yaml'))
  for column in spec.feature_names + [spec.label]:
    assert spec.drift_action(column) == 'block', column
  for column in list(spec.protected_attributes) + list(spec.tags):
    assert spec.drift_action(column) == 'warn', column


@pytest.mark.parametrize('mutate, message', [
    (lambda d: d['columns']['income'].update(drift='stop'),
     r"columns\.income\.drift is 'stop'"),
    (lambda d: d.update(validation={'drift_default': 'maybe'}),
     r"validation\.drift_default is 'maybe'"),
    (lambda d: d.update(validation={'drfit_default': 'warn'}),
     r"unknown field\(s\) validation\.\['drfit_default'\]"),
    (lambda d: d.update(validation={'default_thresholds': {'numeric_jsd': 2}}),
     r'validation\.default_thresholds\.numeric_jsd must be a number in \[0.0, 1.0\]'),
    (lambda d: d.update(validation={'label_drift': {'bins': 2.5}}),
     r'validation\.label_drift\.bins must be a whole number'),
    (lambda d: d.update(validation={'label_drift': {'action': 'stop'}}),
     r"validation\.label_drift\.action is 'stop'"),
    (lambda d: d.update(validation={'label_drift': {'threshold': 'high'}}),
     r'validation\.label_drift\.threshold must be a number'),
    (lambda d: d.update(validation=['block']), '`validation` must be a mapping'),
    (lambda d: d.update(splits={'train': 8, 'eval': 2, 'stratify_below_rows': -1}),
     r'splits\.stratify_below_rows must be a whole number >= 0'),
    (lambda d: d.update(splits={'train': 8, 'eval': 2, 'stratify_below_rows': '5k'}),
     r'splits\.stratify_below_rows must be a whole number >= 0'),
])
def test_malformed_validation_fields_are_rejected_with_the_field_named(mutate, message):
  raw = copy.deepcopy(TINY_DESCRIPTION)
  mutate(raw)
  with pytest.raises(description.DatasetSpecError, match=message):
    description.parse(raw, source='tiny.yaml')


def test_training_and_evaluation_are_typed_with_defaults_for_what_is_omitted():
  spec = description.load(os.path.join(DESCRIPTIONS, 'credit_risk.yaml'))
  assert spec.training == description.Training(
      epochs=20, batch_size=256, hidden_units=(64, 32), learning_rate=0.002,
      early_stopping_patience=3)
  assert spec.evaluation.min_rare_class_recall == 0.30
  assert spec.evaluation.fairness_thresholds == (0.25, 0.5, 0.75)
  tiny = description.parse(TINY_DESCRIPTION, source='tiny')
  assert (tiny.training.epochs, tiny.training.hidden_units) == (2, (8,))
  assert tiny.training.dropout == description.Training().dropout
  assert tiny.evaluation == description.Evaluation()
  assert tiny.evaluation.min_accuracy is None


def test_evaluation_reads_as_the_dict_it_was_for_readers_not_yet_moved():
  raw = copy.deepcopy(TINY_DESCRIPTION)
  raw['evaluation'] = {'min_accuracy': 0.7}
  evaluation = description.parse(raw, source='tiny').evaluation
  assert 'min_accuracy' in evaluation and evaluation['min_accuracy'] == 0.7
  assert 'min_rare_class_recall' not in evaluation
  assert evaluation.get('fairness_gap_threshold', 0.1) == 0.1
  with pytest.raises(KeyError):
    evaluation['max_accuracy_drop']  # pylint: disable=pointless-statement


@pytest.mark.parametrize('mutate, message', [
    (lambda d: d['training'].update(epochs=0), r'training\.epochs must be a whole number'),
    (lambda d: d['training'].update(epochs=2.5), r'training\.epochs must be a whole number'),
    (lambda d: d['training'].update(learning_rate='fast'), r'training\.learning_rate must be a number'),
    (lambda d: d['training'].update(dropout=1.0), r'training\.dropout must be a number in \[0.0, 0.99\]'),
    (lambda d: d['training'].update(hidden_units=64), r'training\.hidden_units must be a list'),
    (lambda d: d['training'].update(hidden_units=[64, 0]), r'training\.hidden_units\[1\]'),
    (lambda d: d['training'].update(epoch=3), r"unknown field\(s\) training\.\['epoch'\]"),
    (lambda d: d.update(training=[1]), '`training` must be a mapping'),
    (lambda d: d.update(evaluation={'min_accuracy': 75}),
     r'evaluation\.min_accuracy must be a number in \[0.0, 1.0\]'),
    (lambda d: d.update(evaluation={'fairness_thresholds': [0.5, 2]}),
     r'evaluation\.fairness_thresholds\[1\]'),
    (lambda d: d.update(evaluation={'min_recall': 0.3}),
     r"unknown field\(s\) evaluation\.\['min_recall'\]"),
])
def test_malformed_training_and_evaluation_are_rejected_with_the_field_named(mutate, message):
  raw = copy.deepcopy(TINY_DESCRIPTION)
  mutate(raw)
  with pytest.raises(description.DatasetSpecError, match=message):
    description.parse(raw, source='tiny.yaml')


def test_exec_property_round_trip():
  spec = description.load(os.path.join(DESCRIPTIONS, 'taxi.yaml'))
  value = description.to_exec_property(spec)
  assert isinstance(value, str)
  assert description.from_exec_property(value) == spec
  assert description.from_exec_property(spec.to_config()) == spec
