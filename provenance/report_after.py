"""Run report sections about what came after training: HLP, rollout, lineage, every artifact."""

import reports
from analysis import hlp_report
from analysis import hlp_view
from provenance import fragments
from provenance import nodes
from provenance.report_run import Run, of_type, section, type_name_like


@section('hlp', 'Human-level performance', type_name_like(r'HumanLevel', r'^HLP'))
def _hlp(run: Run, artifacts) -> str:
  parts = []
  for a in artifacts:
    parts.append(f'<p>{fragments.esc(a.label)} (<code>{fragments.esc(a.uri)}</code>)</p>')
    try:
      # The component's own tables, the fragment its page is made of.
      parts.append(reports.render('hlp_tables.html.j2',
                                  **hlp_view.page(hlp_report.read_report(a.uri))))
    except (FileNotFoundError, KeyError, AttributeError):
      parts.append(fragments.artifact_files(a))
  return ''.join(parts)


@section('rollout', 'Rollout', type_name_like(r'Rollout', r'Canary'))
def _rollout(run: Run, artifacts) -> str:
  return ''.join(f'<p>{fragments.esc(a.label)} (<code>{fragments.esc(a.uri)}</code>)</p>' + fragments.artifact_files(a)
                 for a in artifacts)


@section('lineage', 'Lineage of the model', of_type('Model', output_key='model'))
def _lineage(run: Run, artifacts) -> str:
  m = run.lineage.model_lineage(str(artifacts[-1].id))
  parts = [fragments.kv([
      ('model', fragments.esc(f'{m.model.label}: {m.model.uri}')),
      ('trained by', fragments.esc(f'{m.trainer.node_id} execution {m.trainer.id}, '
                        f'code {m.trainer.code_version or "not recorded"}')
       if m.trainer else '-'),
      ('code commit', fragments.esc(m.trainer.code_commit or 'not recorded') if m.trainer else '-'),
  ])]
  files = []
  for d in m.data:
    for f in d.files or [nodes.DataFile('(no file found)', None, None, None)]:
      files.append({'span': d.span, 'examples': d.examples.id, 'input_base': d.input_base,
                    'file': f.path, 'bytes': f.bytes,
                    'sha256': (f.sha256_recorded or f.sha256_now or '-')[:16],
                    'file status': f.status,
                    'fingerprint': {True: 'matches', False: 'CHANGED', None: '-'}[
                        d.fingerprint_matches]})
  parts.append('<h3>Data</h3>' + fragments.table(
      files, ['span', 'examples', 'input_base', 'file', 'bytes', 'sha256', 'file status',
              'fingerprint'],
      formats={'span': str, 'examples': str, 'input_base': fragments.esc, 'file': fragments.esc, 'sha256': fragments.esc,
               'file status': fragments.esc, 'fingerprint': fragments.esc},
      row_class=lambda r: 'bad' if 'CHANGED' in (r['file status'], r['fingerprint']) else ''))
  upstream = [{'artifact': a.label, 'from': f'{a.producer.node_id}#{a.producer.id}'
               if a.producer else 'external', 'uri': a.uri} for a in m.upstream]
  parts.append('<h3>Built from</h3>' + fragments.table(upstream, ['artifact', 'from', 'uri'],
                                               formats={c: fragments.esc for c in ('artifact', 'from', 'uri')}))
  parts.append('<p class="note">Everything built from a span: '
               '<code>python -m cli.provenance blast-radius --span N</code>.</p>')
  return ''.join(parts)


@section('artifacts', 'Artifacts of this run')
def _artifacts(run: Run, _) -> str:
  rows = [{'id': a.id, 'type': a.type, 'output': a.output_key,
           'producer': f'{a.producer.node_id}#{a.producer.id}' if a.producer else '-',
           'uri': a.uri} for a in run.artifacts]
  return fragments.table(rows, ['id', 'type', 'output', 'producer', 'uri'],
                formats={'id': str, 'type': fragments.esc, 'output': fragments.esc, 'producer': fragments.esc, 'uri': fragments.esc})
