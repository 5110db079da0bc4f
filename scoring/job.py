"""The batch scoring job on Apache Beam, and the files it leaves.

  input files -> byte ranges -> (reshuffled over workers) -> batches of
  checked rows + rejects -> the model's signature -> output lines -> text shards

Nothing is grouped, so memory does not grow with the input: each worker
holds one batch at a time. The text shards (Beam writes them without a
grouping step, as any runner likes) are then joined, streaming, into the one
output CSV and the one rejects CSV, each with its header; their line counts
are the counts printed, so they hold on any runner, metrics or not.
"""

import csv
import dataclasses
import io
import os
import shutil
import uuid
from typing import Dict, List, Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from tfx.dsl.io import fileio

import description
from scoring import predict
from scoring import rows as rows_lib
from scoring import versions

REJECTS_HEADER = ['file', 'line', 'column', 'reason', 'row']
DEFAULT_BATCH_SIZE = 2048
REJECTS = 'rejects'


@dataclasses.dataclass(frozen=True)
class Result:
  version: versions.ModelVersion
  files: int
  scored: int
  rejected: int
  out: str
  rejects: str

  def summary(self) -> str:
    return (f'model {self.version.model_name} version {self.version.version} '
            f'({self.version.how})\n'
            f'  files    : {self.files}\n'
            f'  scored   : {self.scored} row(s) -> {self.out}\n'
            f'  rejected : {self.rejected} row(s) -> {self.rejects}')


def rejects_path(out: str) -> str:
  root, _ = os.path.splitext(out)
  return root + '.rejects.csv'


def _csv_line(fields: Sequence) -> str:
  text = io.StringIO()
  csv.writer(text, lineterminator='').writerow(fields)
  return text.getvalue()


def _reject_line(reject: rows_lib.Reject) -> str:
  return _csv_line([reject.path, reject.line, reject.column or '', reject.reason, reject.text])


class _ReadRange(beam.DoFn):

  def __init__(self, headers: Dict[str, List[str]], spec: description.DatasetSpec,
               wanted: Sequence[str], batch_size: int):
    self._headers, self._spec = headers, spec
    self._wanted, self._batch_size = list(wanted), batch_size

  def process(self, part: rows_lib.Range):
    for item in rows_lib.read_range(part, self._headers[part.path], self._spec,
                                    self._wanted, self._batch_size):
      if isinstance(item, rows_lib.Reject):
        yield beam.pvalue.TaggedOutput(REJECTS, _reject_line(item))
      else:
        yield item


class _Score(beam.DoFn):

  def __init__(self, version: versions.ModelVersion, spec: description.DatasetSpec):
    self._version, self._spec = version, spec
    self._scorer = None

  def setup(self):
    self._scorer = predict.Scorer(predict.load(self._version), self._spec,
                                  self._version.version)

  def process(self, batch: rows_lib.RowBatch):
    lines, rejects = self._scorer.score(batch)
    if lines:
      yield lines
    for reject in rejects:
      yield beam.pvalue.TaggedOutput(REJECTS, _reject_line(reject))


def _open(path: str, mode: str):
  return open(path, mode) if '://' not in path else fileio.open(path, mode)


def _join(parts_prefix: str, target: str, header: Sequence[str]) -> int:
  """Writes header + every shard into target (atomically); the data line count."""
  count = 0
  tmp = f'{target}.tmp-{uuid.uuid4().hex[:8]}'
  with _open(tmp, 'wb') as out:
    out.write((_csv_line(header) + '\n').encode('utf-8'))
    for shard in sorted(fileio.glob(parts_prefix + '*')):
      with _open(shard, 'rb') as f:
        for block in iter(lambda f=f: f.read(1 << 20), b''):
          count += block.count(b'\n')
          out.write(block)
  fileio.rename(tmp, target, overwrite=True)
  return count


def run(inputs: str, out: str, spec: description.DatasetSpec,
        version: versions.ModelVersion, beam_args: Optional[List[str]] = None,
        rejects: Optional[str] = None, batch_size: int = DEFAULT_BATCH_SIZE,
        range_bytes: int = rows_lib.RANGE_BYTES) -> Result:
  """Scores every row of `inputs`; raises InputDataError before writing anything
  when a file breaks the description, ModelMismatchError when the model does."""
  files = rows_lib.input_files(inputs)
  headers = rows_lib.check_headers(files, spec)
  model_inputs = predict.check_model(predict.load(version), spec)
  wanted = predict.wanted_columns(model_inputs, spec)
  rejects = rejects or rejects_path(out)
  parts = f'{out}.parts-{uuid.uuid4().hex[:8]}'
  fileio.makedirs(parts)
  try:
    with beam.Pipeline(options=PipelineOptions(beam_args or [])) as pipeline:
      read = (pipeline
              | 'Ranges' >> beam.Create(rows_lib.plan_ranges(files, range_bytes))
              | 'Spread' >> beam.Reshuffle()
              | 'Read' >> beam.ParDo(_ReadRange(headers, spec, wanted, batch_size))
              .with_outputs(REJECTS, main='rows'))
      scored = read.rows | 'Score' >> beam.ParDo(_Score(version, spec)).with_outputs(
          REJECTS, main='lines')
      _ = scored.lines | 'WriteScored' >> beam.io.WriteToText(
          os.path.join(parts, 'scored'))
      # Two writers, no Flatten: each stays fused with its producer, so no
      # runner buffers a PCollection of rejects, however many there are.
      _ = read[REJECTS] | 'WriteReadRejects' >> beam.io.WriteToText(
          os.path.join(parts, 'rejects-read'))
      _ = scored[REJECTS] | 'WriteModelRejects' >> beam.io.WriteToText(
          os.path.join(parts, 'rejects-model'))
    scored_count = _join(os.path.join(parts, 'scored'), out, predict.output_header(spec))
    rejected_count = _join(os.path.join(parts, 'rejects'), rejects, REJECTS_HEADER)
  finally:
    _remove(parts)
  return Result(version, len(files), scored_count, rejected_count, out, rejects)


def _remove(path: str) -> None:
  if '://' in path:
    fileio.rmtree(path)
  else:
    shutil.rmtree(path, ignore_errors=True)
