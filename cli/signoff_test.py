"""cli.signoff without a server: what it refuses, and why."""

import time

import pytest

import durable
from cli import signoff as signoff_cli
from rollout import signoff as signoff_lib
from rollout import signoff_decision
from serving import routing_store

MODEL = 'credit_risk'


def write_pause(root, tmp_path, **kw):
  page = tmp_path / 'audit.html'
  page.write_text('<p>renters: accuracy 0.68 vs 0.80</p>')
  fields = dict(model=MODEL, candidate=2, stable=1, step=1, weight=25.0,
                remaining_steps=[100.0], paused_at='t', deadline=time.time() + 3600,
                required_by='always', regressed=[], audit_html=str(page),
                audit_json='', audit_sha256=durable.sha256_of(str(page)),
                decision_dir=str(tmp_path / 'decision'), config={}, description='{}',
                replay_source='', replay_kind='csv')
  fields.update(kw)
  routing_store.write_json(signoff_lib.pause_path(root, MODEL), fields)
  return page


def run(root, *args):
  return signoff_cli.main(list(args) + ['--serving-root', root, '--model-name', MODEL,
                                        '--no-metadata'])


def test_nothing_pending_is_said_with_the_file_it_looked_for(tmp_path, capsys):
  root = str(tmp_path)
  assert run(root, 'status') == 1
  assert run(root, 'approve', '--reviewer', 'a', '--reason', 'b') == 2
  assert f'{root}/{MODEL}.signoff.json does not exist' in capsys.readouterr().err


def test_refusals_before_anything_changes(tmp_path, capsys):
  root = str(tmp_path)
  page = write_pause(root, tmp_path)
  assert run(root, 'status') == 0
  assert 'candidate 2 (stable 1) paused at step 1 (25%)' in capsys.readouterr().out
  assert run(root, 'approve', '--reviewer', 'a', '--reason', 'b', '--candidate', '3') == 2
  assert 'of candidate 2, not 3' in capsys.readouterr().err
  assert run(root, 'reject', '--reviewer', 'a') == 2  # no reason
  assert 'names its reviewer and gives a reason' in capsys.readouterr().err
  assert run(root, 'expire') == 2
  assert 'has not passed yet' in capsys.readouterr().err
  # The page changed after the pause: the reviewer did not see what was paused on.
  page.write_text('<p>renters: fine</p>')
  with pytest.raises(signoff_lib.SignoffError, match='changed since the pause'):
    signoff_decision.decide(root, MODEL, 'approve', 'a', 'b')
  assert signoff_lib.read_pause(root, MODEL) is not None  # still pending


@pytest.mark.parametrize('content,why', [('null', 'not a pause record'),
                                         ('{"model": ', 'cannot read the pause record')])
def test_a_broken_pause_record_is_named_not_taken_for_no_pause(tmp_path, capsys, content, why):
  root = str(tmp_path)
  path = signoff_lib.pause_path(root, MODEL)
  with open(path, 'w') as f:
    f.write(content)
  assert run(root, 'status') == 1
  assert run(root, 'reject', '--reviewer', 'a', '--reason', 'b') == 2
  err = capsys.readouterr().err
  assert f'{path}: {why}' in err and 'does not exist' not in err
