"""Kubeflow Pipelines support: compiling, adapting and running the KFP v2 definition.

settings         the runner's flags and environment variables, and what they mean
surgery          changes to the TFX pipeline before TFX's KFP v2 compiler sees it
compiler         create_pipeline() -> the definition for one backend, with notes
definition       edits to the compiled definition (defaults, image paths, S3)
ir               reads the definition and adapts what TFX writes to what the
                 open-source KFP backend can execute
submission       submits a definition through kfp.Client
launch           runs in a task pod before TFX's entrypoint: the ExampleGen
                 driver, and empty inputs for resolvers KFP cannot run
local_backend    a local stand-in for the KFP backend (driver + launcher) that
                 executes each compiled task's own container command
                 (local_pod: one task's executor input and command line;
                 kfp_metadata: ML Metadata in KFP's layout)
mlmd             connects to ML Metadata: the cluster's store or a local one

kubeflow_runner.py (top level) is the command line that compiles and submits.
"""
