"""What each part of our EvalConfig costs: the Evaluator executor, config variants.

Runs TFX's own Evaluator executor (the code the pipeline's Evaluator runs) on
an existing run's eval split and trained model, once per variant of the
EvalConfig that pipeline/eval_config.py builds from a dataset description,
each variant in a fresh process, and prints the executor's wall time per
variant. Nothing in pipeline/ is changed: variants edit a copy of the proto.

  python benchmarks/profile_evaluator.py --examples URI --model URI \\
      [--description data/descriptions/taxi.yaml] [--variants full,no_slices,...]
      [--baseline-model URI] [--beam-mode in_memory]

URIs: the CsvExampleGen `examples` and Trainer `model` artifacts of a run
(side_by_side.py --keep prints the work directory; MLMD has them).

Variants (each alone, on top of the full config):
  full                  as the pipeline builds it
  no_slices             overall slice only
  no_fairness           without FairnessIndicators
  no_calibration        without Calibration and CalibrationPlot
  no_plots              without CalibrationPlot and MultiClassConfusionMatrixPlot
  positive_class_only   binary label: drop the one-vs-rest spec of class 0 (mirror of class 1)
  lean                  positive_class_only + no_plots (slices, AUC, FI, calibration kept)
  minimal               the reference's level: ExampleCount + accuracy, overall only
  tf_generic            full, with ModelSpec.model_type 'tf_generic': TFMA then neither
                        loads the model with tf.keras.models.load_model to detect its
                        type nor revives it as Keras, and adds no compiled Keras metrics
  lean_generic          lean + tf_generic
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

VARIANTS = ('full', 'no_slices', 'no_fairness', 'no_calibration', 'no_plots',
            'positive_class_only', 'lean', 'minimal', 'tf_generic', 'lean_generic')
PLOTS = ('CalibrationPlot', 'MultiClassConfusionMatrixPlot')


def _drop_metrics(config, names):
  for spec in config.metrics_specs:
    # Our faster classes (pipeline/eval_metrics.py) stand for TFMA's.
    keep = [m for m in spec.metrics if m.class_name not in names
            and m.class_name.replace('Fast', '', 1) not in names]
    del spec.metrics[:]
    spec.metrics.extend(keep)


def variant_config(spec, name: str):
  """A copy of our EvalConfig changed as the variant says."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from pipeline import eval_config  # pylint: disable=g-import-not-at-top
  config = eval_config.build(spec)
  if name in ('no_slices', 'minimal'):
    del config.slicing_specs[:]
    config.slicing_specs.append(tfma.SlicingSpec())
  if name == 'no_fairness':
    _drop_metrics(config, ('FairnessIndicators', 'FastFairnessIndicators'))
  if name == 'no_calibration':
    _drop_metrics(config, ('Calibration', 'CalibrationPlot'))
  if name in ('tf_generic', 'lean_generic'):
    for model_spec in config.model_specs:
      model_spec.model_type = tfma.TF_GENERIC
  if name in ('no_plots', 'lean', 'lean_generic'):
    _drop_metrics(config, PLOTS)
  if name in ('positive_class_only', 'lean', 'lean_generic'):
    keep = [s for s in config.metrics_specs
            if list(s.binarize.class_ids.values) != [0]]
    del config.metrics_specs[:]
    config.metrics_specs.extend(keep)
  if name == 'minimal':
    overall = config.metrics_specs[0]
    keep = [m for m in overall.metrics
            if m.class_name in (eval_config.FAST_METRICS['ExampleCount'], eval_config.ACCURACY)]
    del config.metrics_specs[:]
    config.metrics_specs.add().metrics.extend(keep)
  return config


def run_one(args) -> int:
  """In this process: the Evaluator executor on one variant; prints JSON."""
  t_import = time.perf_counter()
  import description  # pylint: disable=g-import-not-at-top
  from tfx.components.evaluator import executor  # pylint: disable=g-import-not-at-top
  from tfx.dsl.components.base import base_beam_executor  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from tfx.utils import json_utils  # pylint: disable=g-import-not-at-top
  from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top
  imported = time.perf_counter() - t_import

  spec = description.load(args.description)
  config = variant_config(spec, args.run_one)
  examples = standard_artifacts.Examples()
  examples.uri = args.examples
  examples.split_names = artifact_utils.encode_split_names(
      sorted(n[len('Split-'):] for n in os.listdir(args.examples) if n.startswith('Split-')))
  model = standard_artifacts.Model()
  model.uri = args.model
  model.id = 1
  inputs = {'examples': [examples], 'model': [model]}
  if args.baseline_model:
    baseline = standard_artifacts.Model()
    baseline.uri = args.baseline_model
    baseline.id = 2
    inputs['baseline_model'] = [baseline]
  out = tempfile.mkdtemp(prefix=f'eval_{args.run_one}_')
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = os.path.join(out, 'evaluation')
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = os.path.join(out, 'blessing')
  os.makedirs(evaluation.uri)
  os.makedirs(blessing.uri)
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  # The Beam arguments local_runner gives the pipeline's Evaluator.
  beam = configs.beam_pipeline_args(0 if args.beam_mode == 'in_memory' else sys.maxsize,
                                    setup_file=configs.SETUP_FILE)
  runner = executor.Executor(base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=beam, tmp_dir=os.path.join(out, 'tmp')))
  t0 = time.perf_counter()
  runner.Do(inputs, {'evaluation': [evaluation], 'blessing': [blessing]}, {
      'eval_config': proto_utils.proto_to_json(config),
      'example_splits': json_utils.dumps(['eval']),
  })
  seconds = time.perf_counter() - t0
  metrics = sum(len(s.metrics) for s in config.metrics_specs)
  print(json.dumps({'variant': args.run_one, 'executor_seconds': seconds,
                    'import_seconds': imported, 'slices': len(config.slicing_specs),
                    'metric_configs': metrics, 'metrics_specs': len(config.metrics_specs),
                    'blessed': os.path.exists(os.path.join(blessing.uri, 'BLESSED')),
                    'evaluation_uri': evaluation.uri,
                    'cpu_seconds': time.process_time()}))
  return 0


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--examples', required=True)
  p.add_argument('--model', required=True)
  p.add_argument('--baseline-model')
  p.add_argument('--description', default=os.path.join('data', 'descriptions', 'taxi.yaml'))
  p.add_argument('--variants', default=','.join(VARIANTS))
  p.add_argument('--beam-mode', choices=['in_memory', 'multi_processing'], default='in_memory')
  p.add_argument('--repeat', type=int, default=1, help='runs per variant (median shown)')
  p.add_argument('--json')
  p.add_argument('--run-one', help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  if args.run_one:
    return run_one(args)

  from benchmarks import common  # pylint: disable=g-import-not-at-top
  print(f'{common.describe_machine(common.machine())}\n{common.uptime_line()}', flush=True)
  results = []
  for variant in args.variants.split(','):
    if variant not in VARIANTS:
      raise SystemExit(f'unknown variant {variant!r}; known: {", ".join(VARIANTS)}')
    times = []
    for _ in range(args.repeat):
      command = [sys.executable, os.path.abspath(__file__), '--run-one', variant,
                 '--examples', args.examples, '--model', args.model,
                 '--description', args.description, '--beam-mode', args.beam_mode]
      if args.baseline_model:
        command += ['--baseline-model', args.baseline_model]
      before = resource.getrusage(resource.RUSAGE_CHILDREN)
      done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
      after = resource.getrusage(resource.RUSAGE_CHILDREN)
      line = [l for l in done.stdout.splitlines() if l.startswith('{"variant"')]
      if done.returncode != 0 or not line:
        print(f'{variant}: failed\n{done.stderr[-3000:]}', file=sys.stderr)
        break
      found = json.loads(line[-1])
      found['load'] = common.load()
      # The variant's process and the Beam workers it waited for (multi_processing),
      # imports included: less sensitive to other load than wall time.
      found['tree_cpu_seconds'] = (after.ru_utime + after.ru_stime
                                   - before.ru_utime - before.ru_stime)
      times.append(found)
      print(f'  {variant:<20} {found["executor_seconds"]:6.1f} s, '
            f'{found["tree_cpu_seconds"]:6.1f} CPU-s  ({found["slices"]} slicing '
            f'specs, {found["metric_configs"]} metric configs, load {found["load"]}) '
            f'{found["evaluation_uri"]}', flush=True)
    if times:
      best = dict(times[0], executor_seconds=common.median(
          [t['executor_seconds'] for t in times]), runs=[t['executor_seconds'] for t in times])
      results.append(best)
  full = next((r for r in results if r['variant'] == 'full'), None)
  rows = [[r['variant'], common.fmt(r['executor_seconds']),
           common.fmt(full and full['executor_seconds'] - r['executor_seconds']),
           str(r['slices']), str(r['metric_configs'])] for r in results]
  print('\n' + common.format_table(
      ['variant', 'executor s', 'saved vs full', 'slicing specs', 'metric configs'], rows))
  print(common.uptime_line())
  common.write_json(args.json, {'results': results, 'args': vars(args)})
  return 0


if __name__ == '__main__':
  sys.exit(main())
