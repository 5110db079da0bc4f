"""ML Metadata: the store, the run summary, and the project's artifact types.

The artifact classes are re-exported here because their TYPE_NAMEs are
`metadata.<Class>` (metadata/artifacts.py): Kubeflow Pipelines' task pods
import a custom artifact type by that path.
"""

from metadata.artifacts import DataValidationVerdict  # pylint: disable=g-importing-member
from metadata.artifacts import HumanLevelPerformance  # pylint: disable=g-importing-member
from metadata.artifacts import RolloutDecision  # pylint: disable=g-importing-member
