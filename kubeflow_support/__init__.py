"""Kubeflow Pipelines support: the compiled pipeline definition (KFP v2 IR).

ir               reads the definition and adapts what TFX's KubeflowV2DagRunner
                 writes to what the open-source KFP backend can execute
launch           runs in a task pod before TFX's entrypoint: the ExampleGen
                 driver, and empty inputs for resolvers KFP cannot run
local_backend    a local stand-in for the KFP backend (driver + launcher) that
                 executes each compiled task's own container command
mlmd             connects to ML Metadata: the cluster's store or a local one

kubeflow_runner.py (top level) is the command line that compiles and submits.
"""

import importlib
import json
import os

# Custom artifact types whose TYPE_NAME KFP v2 cannot use are published as
# `kubeflow_support.<Class>` (kubeflow_runner.alias_custom_artifact_types); TFX's
# entrypoint imports that path in the pod, and this module answers it from the
# class paths the compiled tasks carry in their environment.
ARTIFACT_ALIAS_MODULE = 'kubeflow_support'
ARTIFACT_CLASSES_ENV = 'TFX_KFP_ARTIFACT_CLASSES'


def __getattr__(name):
  path = json.loads(os.environ.get(ARTIFACT_CLASSES_ENV) or '{}').get(name)
  if path is None:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module, _, attribute = path.rpartition('.')
  return getattr(importlib.import_module(module), attribute)
