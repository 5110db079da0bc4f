"""Run report sections about what came after training: automation policy, HLP, rollout,
lineage, every artifact."""

import reports
from analysis import hlp_report
from analysis import hlp_view
from provenance import nodes
from provenance import views
from provenance.report_run import Run, of_type, section, type_name_like
from metadata import type_names


def _hlp_view(artifact) -> dict:
  try:
    # The component's own tables, the fragment its page is made of.
    return {'label': artifact.label, 'uri': artifact.uri,
            'view': hlp_view.page(hlp_report.read_report(artifact.uri))}
  except (FileNotFoundError, KeyError, AttributeError):
    return dict(views.artifact(artifact), view=None)


@section('hlp', 'Human-level performance', type_name_like(r'HumanLevel', r'^HLP'))
def _hlp(run: Run, artifacts) -> str:
  return reports.render('run_hlp.html.j2', artifacts=[_hlp_view(a) for a in artifacts])


@section('automation', 'Automation policy', of_type(type_names.AUTOMATION_POLICY))
def _automation(run: Run, artifacts) -> str:
  # The component's own page: the band, what it is expected to do, the curve.
  return reports.render('run_files.html.j2',
                        artifacts=[views.artifact(a, prefer_html=True) for a in artifacts])


@section('rollout', 'Rollout', type_name_like(r'Rollout', r'Canary'))
def _rollout(run: Run, artifacts) -> str:
  return reports.render('run_files.html.j2', artifacts=[views.artifact(a) for a in artifacts])


@section('lineage', 'Lineage of the model', of_type('Model', output_key='model'))
def _lineage(run: Run, artifacts) -> str:
  m = run.lineage.model_lineage(str(artifacts[-1].id))
  facts = [
      ('model', f'{m.model.label}: {m.model.uri}'),
      ('trained by', f'{m.trainer.node_id} execution {m.trainer.id}, '
                     f'code {m.trainer.code_version or "not recorded"}' if m.trainer else '-'),
      ('code commit', (m.trainer.code_commit or 'not recorded') if m.trainer else '-'),
  ]
  files = []
  for d in m.data:
    for f in d.files or [nodes.DataFile('(no file found)', None, None, None)]:
      files.append({'span': d.span, 'examples': d.examples.id, 'input_base': d.input_base,
                    'file': f.path, 'bytes': f.bytes,
                    'sha256': (f.sha256_recorded or f.sha256_now or '-')[:16],
                    'file status': f.status,
                    'fingerprint': {True: 'matches', False: 'CHANGED', None: '-'}[
                        d.fingerprint_matches]})
  upstream = [{'artifact': a.label, 'from': f'{a.producer.node_id}#{a.producer.id}'
               if a.producer else 'external', 'uri': a.uri} for a in m.upstream]
  return reports.render(
      'run_lineage.html.j2', facts=facts,
      data=views.table(
          files, ['span', 'examples', 'input_base', 'file', 'bytes', 'sha256', 'file status',
                  'fingerprint'],
          kinds={'span': 'text', 'examples': 'text', 'file status': 'text'},
          row_class=lambda r: 'bad' if 'CHANGED' in (r['file status'], r['fingerprint']) else ''),
      upstream=views.table(upstream, ['artifact', 'from', 'uri']))


@section('artifacts', 'Artifacts of this run')
def _artifacts(run: Run, _) -> str:
  rows = [{'id': a.id, 'type': a.type, 'output': a.output_key,
           'producer': f'{a.producer.node_id}#{a.producer.id}' if a.producer else '-',
           'uri': a.uri} for a in run.artifacts]
  return reports.render('run_artifacts.html.j2', artifacts=views.table(
      rows, ['id', 'type', 'output', 'producer', 'uri'], kinds={'id': 'text', 'output': 'text'}))
