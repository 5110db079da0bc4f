"""Runs the pipeline locally: LocalDagRunner, Beam DirectRunner, SQLite MLMD.

  python local_runner.py                         # default data, every span not run yet
  python local_runner.py --description my.yaml --data-root /data/mine --span 3

Without --span, every span on disk that this pipeline has not processed yet
(span_runs.history, read from ML Metadata) runs, oldest first, each with its
own progress and summary, so the first run of the default data shows the
whole story: span 1 deployed in shadow, span 2 checked for drift against
span 1, compared with the last blessed model and canaried, and so on. A table
of every span and what happened to it closes the run. When every span was
processed already, the latest runs again (unchanged inputs come from the
cache). --span N runs that span only, as often as asked.

Prints one line per component as it starts and finishes, then, from ML
Metadata, per-component times and where the evaluation, the pushed model, the
metadata store and the HTML run report are. The full logs of TensorFlow,
Beam, absl and TFX go to work/<pipeline>/logs/run-<time>.log (its path is
printed); --verbose streams them as well.

Exit codes: 1 if a component failed (later spans do not run: each builds on
the one before); otherwise what the newest span run decided: 3 if data
validation rejected it, 2 if its model was not blessed (unless
--allow-unblessed), 0 if it was blessed. A gate that blocks a drifted span
works as designed, yet nothing new serves and someone should read its report,
so the newest span's block still exits 3; an earlier span's block or
rejection is history, shown in the closing table, and does not change the
exit code.

Data validation (bad CSV rows, schema anomalies, drift from the previous span)
prints its summary and the path of its HTML report; when it rejects the
input, nothing is trained or pushed and the exit code is 3.
"""

import argparse
import gc
import os
import sys
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')  # before TensorFlow loads

from absl import logging  # pylint: disable=g-import-not-at-top

import console
import description
from description import spans
from pipeline import configs

# TensorFlow and TFX are imported inside the run, once the console capture
# is in place: importing them already logs a screenful of GPU probing.


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--description', default=configs.DEFAULT_DESCRIPTION,
                      help='dataset description YAML (default: %(default)s)')
  parser.add_argument('--data-root', help="the CSVs' root; default: the "
                      "description's input.default_root")
  parser.add_argument('--span', type=int, help='run this span only (default: every span '
                      'not processed yet, oldest first)')
  parser.add_argument('--work-dir', default=configs.DEFAULT_WORK_DIR,
                      help='artifacts, metadata and pushed models (default: %(default)s)')
  parser.add_argument('--pipeline-name', help='default: the dataset name')
  parser.add_argument('--beam-mode', choices=['auto', 'in_memory', 'multi_processing'],
                      default='auto', help='DirectRunner mode; auto picks by data size')
  parser.add_argument('--no-cache', action='store_true',
                      help='re-execute every component even if its inputs are unchanged')
  parser.add_argument('--allow-unblessed', action='store_true',
                      help='exit 0 even when the Evaluator did not bless the model')
  parser.add_argument('--rollout-server-url', help='roll the pushed model out on this running '
                      'model server (loopback; admin token from $SERVING_ADMIN_TOKEN) '
                      'instead of an in-process one')
  parser.add_argument('--verbose', action='store_true',
                      help='stream every log line (TensorFlow, Beam, TFX) to the console '
                      'too, not only to the run\'s log file')
  return parser.parse_args(argv)


def beam_args(mode: str, num_rows: int):
  if mode != 'auto':
    num_rows = 0 if mode == 'in_memory' else sys.maxsize
  return configs.beam_pipeline_args(num_rows, setup_file=configs.SETUP_FILE)


def describe_failure(error: BaseException) -> str:
  """The whole cause chain: Beam wraps the real error in generic ones."""
  messages = []
  while error is not None:
    messages.append(f'{type(error).__name__}: {str(error).strip()[:2000]}')
    error = error.__cause__ or error.__context__
  return '\n  caused by '.join(messages)


def report_data_validation(summary, pipeline_root: str, con: console.Console) -> bool:
  """Prints what data validation found; True if it rejected the input."""
  from pipeline import validation_outcome  # pylint: disable=g-import-not-at-top
  rejected = False
  for outcome in validation_outcome.outcomes(summary, pipeline_root):
    if outcome.report_text:
      with open(outcome.report_text) as f:
        con.say('\n' + f.read().rstrip())
    if outcome.passed:
      continue
    rejected = True
    if not outcome.report_text:
      con.warn(f'\n{outcome.message or outcome.node_id + " failed"}')
    where = (f'see the report: {outcome.report_html}' if outcome.report_html
             else 'the problems are listed above')
    con.warn(f'\nDATA REJECTED by {outcome.node_id}: nothing was trained or pushed; '
             f'{where}')
  return rejected


def main(argv=None) -> int:
  args = parse_args(argv)
  spec = description.load(args.description)
  data_root = spec.resolve_root(args.data_root, configs.REPO_ROOT)
  span, files = spans.select(data_root, spec.input_pattern, args.span)
  name = args.pipeline_name or spec.name
  work_dir = os.path.abspath(args.work_dir)
  log_path = console.log_path(os.path.join(work_dir, name))
  with console.capture(log_path, verbose=args.verbose) as con:
    con.say(f'Full log of this run: {log_path}')
    if args.span is not None:
      return run(args, spec, data_root, span, files, name, work_dir, con)
    return run_pending(args, spec, data_root, name, work_dir, con)


def _span_list(numbers) -> str:
  return ', '.join(str(n) for n in sorted(numbers))


def run_pending(args, spec, data_root, name, work_dir, con) -> int:
  """Runs every span not processed yet, oldest first; returns the exit code."""
  from span_runs import history  # pylint: disable=g-import-not-at-top
  from span_runs import table  # pylint: disable=g-import-not-at-top
  on_disk = spans.spans(data_root, spec.input_pattern)
  metadata = configs.metadata_path(work_dir, name)
  done = history.processed(metadata, name, data_root)
  todo = history.pending(on_disk, done)
  if not todo:
    todo = [max(on_disk)]
    con.say(f'Every span under {data_root} was processed already ({_span_list(done)}); '
            f'running the latest, span {todo[0]}, again: unchanged inputs come from the '
            f'cache (--span N runs another).')
  elif len(on_disk) > 1:
    before = f'processed already: {_span_list(done)}; ' if done else ''
    con.say(f'Spans under {data_root}: {before}to run now, oldest first: {_span_list(todo)}')
  code = 0
  for position, span in enumerate(todo, 1):
    if len(todo) > 1:
      con.say(f'\n=== Span {span} ({position} of {len(todo)}) ' + '=' * 40)
    code = run(args, spec, data_root, span, on_disk[span], name, work_dir, con)
    if code == 1:
      con.warn(f'Stopped at span {span}: the spans after it build on it '
               f'(drift baseline, last blessed model). Not run: '
               f'{_span_list(todo[position:]) or "none"}.')
      break
  if len(on_disk) > 1:
    outcomes = history.processed(metadata, name, data_root)
    con.say('\n' + table.format_overview(outcomes, todo))
  return code


def run(args, spec, data_root, span, files, name, work_dir, con) -> int:
  """Builds and runs the pipeline, then reports; returns the exit code."""
  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import metadata as tfx_metadata
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner
  from metadata import run_summary
  from pipeline import beam_speedups
  from pipeline import pipeline as pipeline_lib
  from provenance import finish
  from provenance import record as provenance
  from rollout import signoff_record
  # pylint: enable=g-import-not-at-top
  # What is alive now (TensorFlow, TFX, Beam: ~900k objects) lives until exit.
  # Frozen, the cyclic collector stops walking it again in every full
  # collection of the run and in the one at interpreter exit: 2.3 s at exit
  # alone on the taxi data. Collected first so no garbage is frozen with it;
  # once per process, not again for every span of a multi-span run.
  if not gc.get_freeze_count():
    gc.collect()
    gc.freeze()
  # The run then allocates millions of short-lived objects (Beam bundles, TF
  # tracing); a young-generation collection every 7,000 allocations instead of
  # 700 took the taxi run from 37.6 s to 35.4 s (medians of 3, alternating).
  gc.set_threshold(7000, 10, 10)
  # Beam's fixed costs per transform and per bundle (option views, function
  # signatures, a state sampler's wait): the taxi run 39.3 s -> 34.3 s.
  beam_speedups.apply()
  num_rows = spans.count_rows(files)
  metadata = configs.metadata_path(work_dir, name)
  os.makedirs(os.path.dirname(metadata), exist_ok=True)
  beam = beam_args(args.beam_mode, num_rows)
  con.say(f'Dataset {spec.name}: span {span} ({num_rows:,} rows in {len(files)} '
          f'file(s) under {data_root}); Beam {" ".join(beam)}')

  schema_path = configs.curated_schema_path(spec.name)
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=name,
      pipeline_root=configs.pipeline_root(work_dir, name),
      data_root=data_root,
      spec=spec,
      serving_model_dir=configs.serving_model_dir(work_dir, name),
      # A pattern without {SPAN} has only "span 0", which a range cannot name.
      span=span if '{SPAN}' in spec.input_pattern else None,
      schema_path=schema_path,
      metadata_connection_config=tfx_metadata.sqlite_metadata_connection_config(
          metadata),
      beam_pipeline_args=beam,
      enable_cache=not args.no_cache,
      rollout_server_url=args.rollout_server_url)

  # Taken before the run: the checkout or the files may change while it runs.
  code = provenance.code_version()
  input_files = provenance.file_hashes(files, data_root)
  started = time.time()
  failure = None
  progress = console.ComponentProgress(con, total=len(pipeline.components))
  try:
    with progress:
      LocalDagRunner().run(pipeline)
  except Exception as e:  # pylint: disable=broad-except
    failure = e
    logging.exception('The pipeline run failed in %s', progress.failed)
  wall = time.time() - started

  # An expired sign-off the rollout settled first, into ML Metadata with its
  # rollout (CanaryRollout cannot write there itself).
  if os.path.exists(metadata):
    try:
      for ids in signoff_record.record_settled(metadata):
        con.say(f'  expired sign-off recorded: SignOff execution {ids["execution"]}')
    except Exception as e:  # pylint: disable=broad-except  # never fails a finished run
      con.warn(f'WARNING: an expired sign-off was not recorded: {type(e).__name__}: {e}')
  # Code version and hyperparameters onto the run's executions, then the report.
  report = finish.finish_run(metadata, name, code, span, input_files)
  if failure is not None and not os.path.exists(metadata):
    # Failed before the first component recorded anything: no summary to show.
    summary = None
  else:
    summary = run_summary.summarize(metadata, name)
    con.say('\n' + run_summary.format_summary(summary, wall))
  if report:
    con.say(f'  run report     : {report}')
  con.say(f'  full log       : {con.log_path}')
  if summary and report_data_validation(summary, configs.pipeline_root(work_dir, name),
                                        con):
    return 3
  if failure is not None:
    where = f' in {progress.failed}' if progress.failed else ''
    con.warn(f'\nFAILED{where}: {describe_failure(failure)}\n'
             f'(the traceback and every log line: {con.log_path})')
    return 1
  if not summary.blessed and not args.allow_unblessed:
    con.warn('\nThe candidate model was NOT blessed, so nothing was pushed. See the '
             'evaluation above (thresholds in the dataset description).')
    return 2
  return 0


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)
  sys.exit(main())
