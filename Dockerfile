# The pipeline image: every Kubeflow Pipelines task runs in it
# (kubeflow_runner.py --image). Python 3.10 and requirements.lock, as on the
# development machines, with this project installed.
#
#   make image IMAGE=REGISTRY/tfx-e2e-pipeline:TAG && docker push REGISTRY/tfx-e2e-pipeline:TAG
#
# CI has no Docker engine and does not build it; tests/kubeflow_image_test.py
# checks this file against what the compiled pipeline expects of the image.
# The image doubles as the Beam SDK worker image for Dataflow, Flink and Spark
# (docs/kubeflow.md): it carries Beam's worker boot program as ENTRYPOINT. KFP
# tasks set their command explicitly, so the ENTRYPOINT does not affect them.
ARG PYTHON_IMAGE=python:3.10.13-slim-bookworm
ARG BEAM_SDK_IMAGE=apache/beam_python3.10_sdk:2.74.0

FROM ${BEAM_SDK_IMAGE} AS beam

# pyfarmhash (a tfx-bsl dependency) is a C++ source distribution: the compiler
# stays in this stage.
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock /tmp/requirements.lock
# The lock is complete: --no-deps, so pip's resolver never runs (as in
# scripts/bootstrap.sh).
RUN pip install --no-cache-dir --no-deps --disable-pip-version-check -r /tmp/requirements.lock
COPY . /src
RUN pip install --no-cache-dir --no-deps --no-build-isolation --disable-pip-version-check /src

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/venv /opt/venv
COPY --from=beam /opt/apache/beam /opt/apache/beam
COPY . /pipeline
WORKDIR /pipeline
# TF_USE_LEGACY_KERAS: TFX 1.16 needs Keras 2 (tf-keras), chosen before
# TensorFlow loads. PYTHONPATH: the compiled pipeline names modules by import
# path (models.preprocessing.preprocessing_fn, kubeflow_support.launch, ...);
# the repository at /pipeline is where they resolve, the same files the
# installed package holds. kubeflow_runner.py assumes these two paths.
ENV PATH=/opt/venv/bin:$PATH
ENV TF_USE_LEGACY_KERAS=1
ENV PYTHONPATH=/pipeline
ENV PYTHONUNBUFFERED=1
RUN python -c "import tfx, kfp, models.model, models.preprocessing, pipeline.pipeline, kubeflow_support.launch, tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor; print('tfx', tfx.__version__)"
ENTRYPOINT ["/opt/apache/beam/boot"]
