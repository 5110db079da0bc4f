"""The one ML Metadata access layer (layer 1: imports nothing of ours but itself).

  connection   open_store(target, writable=False): a SQLite path, grpc://HOST:PORT
               (Kubeflow's metadata service) or mysql://USER:PASS@HOST:PORT/DB
  values       typed reads: property_value / int_property / json_property,
               properties_of, event_key, INPUT_EVENTS / OUTPUT_EVENTS
  walks        lineage walks several layers ask: last_passed / latest_passed
               (the latest span the data gate passed), trained_on (the data
               behind the latest pushed model), latest_artifact,
               rollout_standing / may_be_baseline (where rollouts left a model)
  automation   policy_of_version / policy_of_model: the AutomationPolicy (the
               band) recorded with the model pushed as a serving version
  record       writing our own records: set_properties (the one rule for
               Python values), record_execution (an execution, its events
               and contexts in one transaction)
  store        Store: a cached read view for provenance's lineage questions
  run_summary  what a run did (components, times, key artifacts)
  artifacts    the project's custom artifact types

The artifact classes are also reachable here because their TYPE_NAMEs are
`metadata.<Class>`: TFX 1.16's KFP compiler allows one dot in a schema title
(compiler_utils._SCHEMA_TITLE_RE) and Kubeflow's task pods import a custom
type by that path. They load on first use, so `import metadata.store` does not
import TFX and TensorFlow.
"""

ARTIFACT_CLASSES = ('DataValidationVerdict', 'HumanLevelPerformance', 'RolloutDecision',
                    'AutomationPolicy')


def __getattr__(name):
  if name in ARTIFACT_CLASSES:
    from metadata import artifacts  # pylint: disable=g-import-not-at-top
    return getattr(artifacts, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
