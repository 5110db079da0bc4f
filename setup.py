"""Installable package of the TFX end-to-end pipeline.

Install with scripts/bootstrap.sh (`make setup`): it installs the pinned
requirements.lock with --no-deps and then this package in editable mode, so
the import paths the TFX components use (models.model.run_fn, ...) resolve
locally and inside a Kubeflow image alike.
"""

from setuptools import find_packages, setup

# Top-level packages, in the order of the layers (README, "Layout").
PACKAGES = ('description', 'durable', 'reports', 'metadata', 'console', 'analysis',
            'models', 'validation', 'serving', 'rollout', 'provenance', 'feedback',
            'scoring', 'monitoring', 'components', 'pipeline', 'kubeflow_support',
            'span_runs', 'loop', 'cli', 'data')

setup(
    name='tfx-e2e-pipeline',
    version='0.1.0',
    description='Production TFX pipeline: data validation, sliced evaluation, '
                'human-level performance, progressive delivery, lineage.',
    python_requires='>=3.10,<3.11',
    packages=find_packages(include=[p + s for p in PACKAGES for s in ('', '.*')]),
    py_modules=['local_runner', 'kubeflow_runner'],
    package_data={'data': ['descriptions/*.yaml', 'DATA_CARD.md'],
                  'reports': ['templates/*']},
    # The exact versions live in requirements.lock; these are the direct needs.
    install_requires=[
        'tfx[kfp]==1.16.0',
        'tensorflow==2.16.2',
        'tf-keras==2.16.0',
        'tensorflow-model-analysis==0.47.1',
        'fairness-indicators==0.47.0',
        'PyYAML>=6',
    ],
)
