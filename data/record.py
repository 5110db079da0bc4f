"""generation.json: the parameters of a run and every planted truth."""

from typing import Any, Dict

from data import labelers
from data import process
from data.process import BASE_PARAMS


def generation_record(spans, rows_per_span, scenario, seed, labeler_fraction,
                       span_records) -> Dict[str, Any]:
  drift = process.DRIFT[scenario]
  return {
      'dataset': process.DATASET_NAME,
      'generator': 'data/generator.py',
      'generator_version': process.GENERATOR_VERSION,
      'parameters': {'spans': spans, 'rows_per_span': rows_per_span,
                     'scenario': scenario, 'seed': seed,
                     'labeler_fraction': labeler_fraction,
                     'chunk_rows': process.CHUNK_ROWS},
      'layout': {'data': 'span-{SPAN}/data.csv',
                 'labelers': 'labelers/span-{SPAN}.csv',
                 'id_format': 'S{span:02d}-{row:07d}'},
      'columns': list(process.COLUMNS),
      'classes': list(process.CLASSES),
      'target_class_rates': process.TARGET_CLASS_RATES,
      'spans': span_records,
      'weak_slice': {
          **process.WEAK_SLICE,
          'credit_score_missing': BASE_PARAMS['missing'][
              'credit_score_weak_slice'],
          'signal_fraction': BASE_PARAMS['risk']['weak_slice_signal_fraction'],
          'why': 'thin credit files: credit_score often missing (and the '
                 'lender priced those loans without a score); the outcome '
                 'depends more on an unobserved factor',
      },
      'tag_effect': {
          'column': 'channel', 'value': 'broker',
          'annual_income_report_log_sd':
              BASE_PARAMS['income']['broker_report_log_sd'],
          'annual_income_report_log_bias':
              BASE_PARAMS['income']['broker_report_log_bias'],
          'other_channels_report_log_sd':
              BASE_PARAMS['income']['report_log_sd'],
          'why': 'self-reported income passed on by brokers: noisier and '
                 'inflated, so annual_income carries less signal there',
      },
      'distractors': {'num_open_accounts': 'zero weight in the risk score',
                      'protected_attributes': 'gender and ethnicity are '
                                              'independent of everything; '
                                              'age acts only through the '
                                              'features and the weak slice'},
      'labelers': {
          'columns': list(process.LABELER_COLUMNS),
          'fraction': labeler_fraction,
          **labelers.labeler_probabilities(),
          'weak_slice_drop': process.LABELERS['weak_slice_drop'],
          'independent_given_row': True,
      },
      'drift': {
          'scenario': scenario,
          'drifted_span': spans if scenario != 'clean' else None,
          'changes': drift,
          'detect_with': {
              'clean': 'nothing should fire',
              'data_drift': 'feature distribution distance between the last '
                            'two spans (annual_income, loan_amount; channel '
                            'as a tag)',
              'concept_drift': 'label distribution shift between the last two '
                               'spans and a drop of the previous model\'s '
                               'evaluation on the new span',
          }[scenario],
      },
      'process': BASE_PARAMS,
      'calibration_seed': process.CALIBRATION_SEED,
  }

