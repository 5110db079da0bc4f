"""After a local run: annotate it, store its key metrics, write its HTML report.

The top of provenance/: it uses record, experiments and report, and nothing
in provenance/ uses it (local_runner.py calls it).
"""

import sys
from typing import Dict, Optional

from metadata import run_summary
from provenance import experiments
from provenance import record
from provenance import report


def finish_run(metadata_path: str, pipeline_name: str, code: record.CodeVersion,
               span: Optional[int] = None,
               input_files: Optional[Dict[str, str]] = None) -> Optional[str]:
  """Returns the report's path.

  Provenance must not turn a good run into a failed one: errors are printed
  as warnings and None is returned.
  """
  try:
    record.annotate_run(metadata_path, pipeline_name, code, span=span,
                        input_files=input_files)
    summary = run_summary.summarize(metadata_path, pipeline_name)
    evaluator = summary.component('Evaluator')
    trainer = summary.component('Trainer')
    evaluation = summary.artifact('ModelEvaluation')
    if (evaluation is not None and evaluator is not None and evaluator.state == 'COMPLETE'
        and not experiments.stored_metrics(evaluation)):
      experiments.record_key_metrics(metadata_path, evaluation.id,
                                     trainer.execution_id if trainer else None)
    return report.write_report(metadata_path, pipeline_name, summary.run_id)
  except Exception as e:  # pylint: disable=broad-except
    print(f'WARNING: provenance not recorded for this run: {type(e).__name__}: {e}',
          file=sys.stderr)
    return None
