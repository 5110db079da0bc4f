"""The HTML kit: escaping, the shared frame, number formats, atomic writes."""

import os
import stat

import jinja2
import pytest

import reports


def test_a_report_is_one_self_contained_page_with_the_shared_style(tmp_path):
  (tmp_path / 'x.html.j2').write_text(
      "{% extends 'base.html.j2' %}{% block content %}<p>{{ value|num }} {{ share|pct }}</p>"
      "{% endblock %}")
  env = reports.environment()
  env.loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(tmp_path)), env.loader])
  try:
    page = reports.render('x.html.j2', title='<b>Run 1</b>', value=0.123456, share=0.25)
  finally:
    reports.environment.cache_clear()
  assert '<title>&lt;b&gt;Run 1&lt;/b&gt;</title>' in page  # Data is escaped.
  assert '<p>0.1235 25.0%</p>' in page
  assert 'font-variant-numeric' in page  # style.css inlined, no external file.


def test_missing_data_is_an_error_not_a_blank():
  with pytest.raises(jinja2.UndefinedError):
    reports.render('base.html.j2')


def test_write_is_atomic_and_not_world_readable(tmp_path):
  path = reports.write(str(tmp_path / 'r' / 'page.html'), 'base.html.j2', title='t')
  assert open(path).read().startswith('<!DOCTYPE html>')
  assert not os.stat(path).st_mode & stat.S_IROTH
  assert [f for f in os.listdir(tmp_path / 'r')] == ['page.html']


@pytest.mark.parametrize('value, text', [(None, '–'), (1234, '1,234'), (float('nan'), 'n/a'),
                                         ('x', 'x'), (2.5, '2.5')])
def test_numbers_read_the_same_in_every_report(value, text):
  assert reports.format_number(value) == text
