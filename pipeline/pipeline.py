"""The pipeline: one create_pipeline() that reads top to bottom.

ExampleGen -> StatisticsGen -> SchemaGen (or the curated schema) ->
ExampleValidator + DistributionValidator (against the previous good span,
found in MLMD) -> DataValidationGate -> Transform -> Trainer -> Resolver (last
blessed model no rollout refused) -> Evaluator -> AutomationPolicy (when the
description has an `automation` section) -> Pusher (and BulkInferrer, when the
description names a split or span to score) -> CanaryRollout. Every component
is driven by the dataset description; the gate stops the run before Transform
on bad data.
"""

from typing import List, Optional

# The modules behind tfx.v1's names, as the official taxi example imports
# them: `from tfx import v1` also imports its Google Cloud extensions
# (google.cloud.aiplatform), 2 s of every run and a third of an unchanged one.
from tfx.components import BulkInferrer
from tfx.components import Evaluator
from tfx.components import ExampleValidator
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components import SchemaGen
from tfx.components import StatisticsGen
from tfx.components import Trainer
from tfx.components import Transform
from tfx.dsl.components.common.resolver import Resolver
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import bulk_inferrer_pb2
from tfx.proto import example_gen_pb2
from tfx.proto import pusher_pb2
from tfx.proto import range_config_pb2
from tfx.proto import trainer_pb2
from tfx.proto import transform_pb2
from tfx.types import Channel
from tfx.types import standard_artifacts
from description import rollout_policy
from description import scoring as description_scoring

from ml_metadata.proto import metadata_store_pb2
import tensorflow_data_validation as tfdv

import description
from components.automation_policy import component as automation_policy
from components.canary_rollout.component import CanaryRollout
from components.checked_example_gen import component as checked_example_gen
from components.data_gate import component as data_gate
from components.drift_validator import component as drift_validator
from components.human_level import component as human_level_performance
from components.unique_pusher.component import UniquePusher
from models import source
from pipeline import configs
from pipeline import eval_config
from pipeline import previous_span
from pipeline import serving_baseline
from validation import drift_config


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    spec: description.DatasetSpec,
    serving_model_dir: str,
    span: Optional[int] = None,
    schema_path: Optional[str] = None,
    metadata_connection_config: Optional[
        metadata_store_pb2.ConnectionConfig] = None,
    beam_pipeline_args: Optional[List[str]] = None,
    enable_cache: bool = True,
    rollout_server_url: Optional[str] = None,
) -> tfx_pipeline.Pipeline:
  """Builds the TFX pipeline for the dataset `spec` found under `data_root`.

  rollout_server_url: the model server (on loopback) the CanaryRollout moves
  traffic on; None starts one in-process over `serving_model_dir`. Its admin
  token comes from $SERVING_ADMIN_TOKEN, never from the pipeline.
  """
  components = []
  custom_config = spec.to_config()
  # Transform and Trainer run our code (models/, description/) by import
  # path; its fingerprint in their config makes an edit of it a cache miss
  # (models/source.py).
  code_config = dict(custom_config, models_source=source.fingerprint())

  # Reads one span of CSVs (the latest unless `span` is given), refusing rows
  # that break the description, and splits it (stratified below
  # splits.stratify_below_rows rows). Keeps CsvExampleGen's node id.
  example_gen = checked_example_gen.CheckedCsvExampleGen(
      spec=spec,
      input_base=data_root,
      input_config=example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='single_split', pattern=spec.input_pattern)
      ]),
      output_config=example_gen_pb2.Output(
          split_config=example_gen_pb2.SplitConfig(splits=[
              example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=size)
              for name, size in spec.splits.items()
          ])),
      range_config=(None if span is None else range_config_pb2.RangeConfig(
          static_range=range_config_pb2.StaticRange(
              start_span_number=span, end_span_number=span)))
  ).with_id('CsvExampleGen')
  components.append(example_gen)

  # The curated schema when one is checked in (one node id, SchemaGen, either
  # way); statistics then follow it, e.g. value counts for categorical ints.
  curated_schema = (ImportSchemaGen(schema_file=schema_path)
                    .with_id('SchemaGen') if schema_path else None)

  # Computes statistics over every split for validation and visualization.
  # Top values and distinct counts come from TFDV's sketches (its own
  # in-memory path, and its planned default): exact for every column of up
  # to 1,024 distinct values, so for every categorical a comparator, a
  # domain or a report reads; approximate beyond (at a million rows the id
  # column's 699,604 distinct values are counted 693,826). TFDV's exact path
  # shuffles every distinct value through Beam: 62 s against 45 s there
  # (benchmarks/profile_statistics.py).
  statistics_gen = StatisticsGen(
      examples=example_gen.outputs['examples'],
      schema=curated_schema.outputs['schema'] if curated_schema else None,
      stats_options=tfdv.StatsOptions(use_sketch_based_topk_uniques=True))
  components.append(statistics_gen)

  # Without a curated schema, infers one from the statistics.
  schema_gen = curated_schema or SchemaGen(
      statistics=statistics_gen.outputs['statistics'],
      infer_feature_shape=True)
  components.append(schema_gen)

  # Finds anomalies: the data against the schema.
  example_validator = ExampleValidator(
      statistics=statistics_gen.outputs['statistics'],
      schema=schema_gen.outputs['schema'])
  components.append(example_validator)

  # The previous good span (the latest earlier span the gate passed) in MLMD:
  # its statistics and the examples they describe; empty for a first span.
  previous_span_resolver = Resolver(
      strategy_class=previous_span.PreviousSpanStrategy,
      statistics=statistics_gen.outputs['statistics'],
      baseline_statistics=Channel(
          type=standard_artifacts.ExampleStatistics),
      baseline_examples=Channel(
          type=standard_artifacts.Examples),
      verdicts=Channel(type=data_gate.DataValidationVerdict)
  ).with_id('previous_span_resolver')
  components.append(previous_span_resolver)

  # Drift from the previous span, per the schema's comparators (train split;
  # validation/drift_config.py).
  distribution_validator = drift_validator.DistributionValidator(
      statistics=statistics_gen.outputs['statistics'],
      baseline_statistics=previous_span_resolver.outputs['baseline_statistics'],
      config=drift_config.config_for(spec, schema_path),
      include_split_pairs=[('train', 'train')])
  components.append(distribution_validator)

  # Fails the run on blocking anomalies or drift, with a report; nothing
  # below runs on data it has not passed.
  gate = data_gate.DataValidationGate(
      spec=spec,
      statistics=statistics_gen.outputs['statistics'],
      schema=schema_gen.outputs['schema'],
      anomalies=example_validator.outputs['anomalies'],
      examples=example_gen.outputs['examples'],
      drift_anomalies=distribution_validator.outputs['anomalies'],
      baseline_statistics=previous_span_resolver.outputs['baseline_statistics'],
      baseline_examples=previous_span_resolver.outputs['baseline_examples'])
  components.append(gate)

  # Feature engineering, analysed on the train split, reused at serving.
  # Only what the Trainer reads is materialised (the Evaluator and the
  # analyses read raw examples through the model's own transform), and
  # Transform's pre/post-transform statistics are off: StatisticsGen and the
  # gate have already checked this data, and nothing reads them.
  transform = Transform(
      examples=example_gen.outputs['examples'],
      schema=schema_gen.outputs['schema'],
      preprocessing_fn=configs.PREPROCESSING_FN,
      splits_config=transform_pb2.SplitsConfig(
          analyze=['train'], transform=['train', 'eval']),
      disable_statistics=True,
      # Traced as a TF1 graph: TF2 tracing (concrete functions, a v2
      # SavedModel per phase) took 10 s of the 15k-row taxi data's 16 s, TF1
      # 6.5 s, for byte-identical vocabularies and transformed examples. The
      # Trainer and the serving signatures load it through TF2's
      # TransformFeaturesLayer all the same.
      force_tf_compat_v1=True,
      # No span reads an analyzer cache back (each analyses its own data), and
      # writing one (a Beam sink per analyzer) took 2.6 s of the taxi data's
      # 15 s.
      disable_analyzer_cache=True,
      custom_config=code_config)
  transform.add_upstream_node(gate)
  components.append(transform)

  # Trains by epochs with early stopping; class weights for the rare class.
  trainer = Trainer(
      run_fn=configs.RUN_FN,
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      schema=schema_gen.outputs['schema'],
      train_args=trainer_pb2.TrainArgs(splits=['train']),
      eval_args=trainer_pb2.EvalArgs(splits=['eval']),
      custom_config=code_config)
  components.append(trainer)

  # The baseline the candidate must not fall behind: the latest blessed model
  # that no rollout refused. Not TFX's LatestBlessedModelStrategy, which
  # also returns a model whose canary was rolled back, so a broken model a
  # lax gate blessed became the bar every later candidate cleared. The node
  # id stays: the Kubeflow compiler and run histories know it.
  model_resolver = Resolver(
      strategy_class=serving_baseline.ServingBaselineStrategy,
      model=Channel(type=standard_artifacts.Model),
      model_blessing=Channel(
          type=standard_artifacts.ModelBlessing)).with_id(
              'latest_blessed_model_resolver')
  components.append(model_resolver)

  # Sliced, per-class and fairness metrics; blesses or rejects the candidate.
  evaluator = Evaluator(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=model_resolver.outputs['model'],
      example_splits=['eval'],
      eval_config=eval_config.build(spec))
  components.append(evaluator)

  # The confidence band partial automation defers below, chosen on the eval
  # split against the description's automation targets; the Pusher waits for
  # it, so targets no band reaches stop the run before a model is pushed
  # without a band that does what the description asks.
  automation = None
  if spec.automation:
    automation = automation_policy.AutomationPolicy(
        examples=example_gen.outputs['examples'],
        model=trainer.outputs['model'],
        model_blessing=evaluator.outputs['blessing'],
        spec=spec)
    components.append(automation)

  # Pushes only a blessed model, to <serving_model_dir>/<version>/, and
  # never one already there (same fingerprint): the second run after a first
  # blessing re-blesses the cached model, which must not become a new version.
  # The automation policy goes into the version directory with the model: the
  # server reads the band there, on Kubeflow as locally (serving/automation.py).
  pusher = UniquePusher(
      model=trainer.outputs['model'],
      model_blessing=evaluator.outputs['blessing'],
      push_destination=pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(
              base_directory=serving_model_dir)),
      automation_policy=automation.outputs['policy'] if automation else None,
  ).with_id('Pusher')
  components.append(pusher)

  # Scores the description's `scoring` split or span with the candidate, only
  # when the Evaluator blessed it; the InferenceResult is recorded in MLMD.
  bulk_scoring = description_scoring.of(spec)
  if bulk_scoring:
    scoring_examples, split = example_gen, bulk_scoring.split
    if bulk_scoring.span is not None:
      # Read like training data (the same checks), into one split.
      scoring_examples, split = checked_example_gen.CheckedCsvExampleGen(
          spec=spec, input_base=data_root,
          input_config=example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
              name='score', pattern=bulk_scoring.span_pattern(spec.input_pattern))]),
          output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
              splits=[example_gen_pb2.SplitConfig.Split(name='score', hash_buckets=1)]))
      ).with_id('ScoringExampleGen'), 'score'
      components.append(scoring_examples)
    components.append(BulkInferrer(
        examples=scoring_examples.outputs['examples'],
        model=trainer.outputs['model'],
        model_blessing=evaluator.outputs['blessing'],
        data_spec=bulk_inferrer_pb2.DataSpec(example_splits=[split]),
        # tfx_bsl's RunInference cannot split serving_examples' rank-1 string
        # output: `bulk_inference` (models/model.py) gives the same predictions
        # in shapes it can (scoring/bulk_inferrer_test.py).
        model_spec=bulk_inferrer_pb2.ModelSpec(model_signature_name=['bulk_inference'])))

  # What to work on next: human-level performance per slice from the span's
  # labelers file, agreement, gap x share, label consistency, error analysis
  # by tag, and baselines beside the new and the last blessed model.
  if spec.labeler_pattern:
    hlp = human_level_performance.HumanLevelAnalysis(
        examples=example_gen.outputs['examples'],
        model=trainer.outputs['model'],
        baseline_model=model_resolver.outputs['model'],
        spec=spec,
        data_root=data_root)
    # Analysis, not a gate: a bad labelers file must not stop a blessed push.
    hlp.add_upstream_node(pusher)
    components.append(hlp)

  # Rolls the pushed model out behind guardrails: canary 5->25->50->100% of
  # replayed held-out traffic (shadow-only for a first deployment); a breach
  # rolls back and stable keeps serving. Skips cleanly when nothing was pushed.
  canary_rollout = CanaryRollout(
      pushed_model=pusher.outputs['pushed_model'],
      examples=example_gen.outputs['examples'],
      # The audit behind a sign-off compares slices from this evaluation. Only
      # then: the run's end annotates the evaluation with its key metrics
      # (provenance/record.py), which changes the input's cache key, so an
      # unchanged rerun would roll out again.
      model_evaluation=(evaluator.outputs['evaluation']
                        if spec.rollout.signoff != rollout_policy.SIGNOFF_NEVER else None),
      dataset_description=custom_config,
      serving_model_dir=serving_model_dir,
      server_url=rollout_server_url)
  components.append(canary_rollout)

  return tfx_pipeline.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=components,
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args,
  )
