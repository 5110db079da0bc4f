"""The pipeline: one create_pipeline() that reads top to bottom.

ExampleGen -> StatisticsGen -> SchemaGen (or the curated schema) ->
ExampleValidator -> Transform -> Trainer -> Resolver (last blessed model) ->
Evaluator -> Pusher. Every component is driven by the dataset description.
"""

from typing import List, Optional

from tfx import v1 as tfx

from ml_metadata.proto import metadata_store_pb2
from models import features
from pipeline import configs
from pipeline import eval_config


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    spec: features.DatasetSpec,
    serving_model_dir: str,
    span: Optional[int] = None,
    schema_path: Optional[str] = None,
    metadata_connection_config: Optional[
        metadata_store_pb2.ConnectionConfig] = None,
    beam_pipeline_args: Optional[List[str]] = None,
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
  """Builds the TFX pipeline for the dataset `spec` found under `data_root`."""
  components = []
  custom_config = spec.to_config()

  # Reads one span of CSVs (the latest unless `span` is given) and splits it.
  example_gen = tfx.components.CsvExampleGen(
      input_base=data_root,
      input_config=tfx.proto.Input(splits=[
          tfx.proto.Input.Split(name='single_split', pattern=spec.input_pattern)
      ]),
      output_config=tfx.proto.Output(
          split_config=tfx.proto.SplitConfig(splits=[
              tfx.proto.SplitConfig.Split(name=name, hash_buckets=size)
              for name, size in spec.splits.items()
          ])),
      range_config=(None if span is None else tfx.proto.RangeConfig(
          static_range=tfx.proto.RangeConfig.StaticRange(
              start_span_number=span, end_span_number=span))))
  components.append(example_gen)

  # Computes statistics over every split for validation and visualization.
  statistics_gen = tfx.components.StatisticsGen(
      examples=example_gen.outputs['examples'])
  components.append(statistics_gen)

  # Uses the curated schema when one is checked in, else infers one.
  if schema_path:
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
  else:
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs['statistics'],
        infer_feature_shape=True)
  components.append(schema_gen)

  # Finds anomalies: the data against the schema.
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs['statistics'],
      schema=schema_gen.outputs['schema'])
  components.append(example_validator)

  # Feature engineering, analysed on the train split, reused at serving.
  transform = tfx.components.Transform(
      examples=example_gen.outputs['examples'],
      schema=schema_gen.outputs['schema'],
      preprocessing_fn=configs.PREPROCESSING_FN,
      splits_config=tfx.proto.SplitsConfig(
          analyze=['train'], transform=list(spec.splits)),
      custom_config=custom_config)
  components.append(transform)

  # Trains by epochs with early stopping; class weights for the rare class.
  trainer = tfx.components.Trainer(
      run_fn=configs.RUN_FN,
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      schema=schema_gen.outputs['schema'],
      train_args=tfx.proto.TrainArgs(splits=['train']),
      eval_args=tfx.proto.EvalArgs(splits=['eval']),
      custom_config=custom_config)
  components.append(trainer)

  # The last blessed model is the baseline the candidate must not fall behind.
  model_resolver = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(
          type=tfx.types.standard_artifacts.ModelBlessing)).with_id(
              'latest_blessed_model_resolver')
  components.append(model_resolver)

  # Sliced, per-class and fairness metrics; blesses or rejects the candidate.
  evaluator = tfx.components.Evaluator(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=model_resolver.outputs['model'],
      example_splits=['eval'],
      eval_config=eval_config.build(spec))
  components.append(evaluator)

  # Pushes only a blessed model, to <serving_model_dir>/<version>/.
  pusher = tfx.components.Pusher(
      model=trainer.outputs['model'],
      model_blessing=evaluator.outputs['blessing'],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=serving_model_dir)))
  components.append(pusher)

  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=components,
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args,
  )
