"""The models package's fingerprint follows its code, and reaches TFX's cache key."""

import json
import shutil

import description
from models import source
from pipeline import configs
from pipeline import pipeline as pipeline_lib


def test_fingerprint_changes_with_the_code_only(tmp_path):
  copy = tmp_path / 'models'
  shutil.copytree(source.PACKAGE_DIR, copy)
  before = source.fingerprint(str(copy))
  assert before == source.fingerprint()
  (copy / 'model_test.py').write_text('# tests are not the model\n')
  (copy / 'notes.txt').write_text('not code\n')
  assert source.fingerprint(str(copy)) == before
  with open(copy / 'preprocessing.py', 'a') as f:
    f.write('\n# an edit\n')
  assert source.fingerprint(str(copy)) != before


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
