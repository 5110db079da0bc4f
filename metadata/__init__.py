"""ML Metadata: the store, the run summary, and the project's artifact types.

The artifact classes are reachable here because their TYPE_NAMEs are
`metadata.<Class>` (metadata/artifacts.py): Kubeflow Pipelines' task pods
import a custom artifact type by that path. They load on first use, so
`import metadata.store` does not import TFX and TensorFlow.
"""

ARTIFACT_CLASSES = ('DataValidationVerdict', 'HumanLevelPerformance', 'RolloutDecision')


def __getattr__(name):
  if name in ARTIFACT_CLASSES:
    from metadata import artifacts  # pylint: disable=g-import-not-at-top
    return getattr(artifacts, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
