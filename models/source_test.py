"""The fingerprint follows the code of models/ and description/, and reaches
TFX's cache key."""

import json
import os
import shutil

import description
from models import source
from pipeline import configs
from pipeline import pipeline as pipeline_lib


def _copies(tmp_path):
  dirs = []
  for package_dir in source.PACKAGE_DIRS:
    copy = tmp_path / os.path.basename(package_dir)
    shutil.copytree(package_dir, copy, ignore=shutil.ignore_patterns('__pycache__'))
    dirs.append(str(copy))
  return dirs


def test_fingerprint_changes_with_the_code_only(tmp_path):
  dirs = _copies(tmp_path)
  models, described = (tmp_path / 'models', tmp_path / 'description')
  before = source.fingerprint(dirs)
  assert before == source.fingerprint()
  (models / 'model_test.py').write_text('# tests are not the model\n')
  (described / 'notes.txt').write_text('not code\n')
  assert source.fingerprint(dirs) == before
  with open(models / 'preprocessing.py', 'a') as f:
    f.write('\n# an edit\n')
  after_models = source.fingerprint(dirs)
  assert after_models != before
  # Preprocessing and the model are built from the description's code too.
  with open(described / 'columns.py', 'a') as f:
    f.write('\n# an edit\n')
  assert source.fingerprint(dirs) not in (before, after_models)


def test_transform_and_trainer_carry_it_in_their_config(tmp_path):
  spec = description.load(configs.DEFAULT_DESCRIPTION)
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name='p', pipeline_root=str(tmp_path), data_root=str(tmp_path),
      spec=spec, serving_model_dir=str(tmp_path / 'serving'))
  by_id = {c.id: c for c in pipeline.components}
  for node in ('Transform', 'Trainer'):
    config = json.loads(by_id[node].exec_properties['custom_config'])
    assert config['models_source'] == source.fingerprint(), node
    assert description.DatasetSpec.from_config(config).name == spec.name
