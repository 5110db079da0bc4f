"""Data validation libraries: what the data gate and the validation commands check.

  csv_checks        row-level checks of CSV input against the description
  csv_examples      checked CSV rows as tf.Examples with the declared types
  stratified_split  stratified train/eval/test splits for small data
  drift_config      DistributionValidator's comparators (schema or description)
  gate_findings     the data gate's findings from the validators' outputs
  example_columns   columns of an Examples split as numpy arrays
  label_drift       concept drift: P(label | feature bin) between two spans
  example_stats     in-memory TFDV statistics of tf.Examples
  skew              training/serving skew
  report            the data gate's and skew check's report
"""
