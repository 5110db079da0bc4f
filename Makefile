# The two commands of the README:
#   make run    set up, generate the default data, run the pipeline on it
#   make test   set up, run the whole test suite
#   make loop   set up, simulate seven months of production (python -m cli.loop)
PY := .venv/bin/python
DEFAULT_DATA := data/generated/credit_risk

.PHONY: setup data run test clean loop

setup:
	@bash scripts/bootstrap.sh

$(DEFAULT_DATA)/generation.json: | setup
	$(PY) -m data.generator --out $(DEFAULT_DATA)

data: setup $(DEFAULT_DATA)/generation.json

run: setup data
	TF_USE_LEGACY_KERAS=1 $(PY) local_runner.py $(ARGS)

test: setup
	@bash scripts/install_test_tools.sh
	TF_USE_LEGACY_KERAS=1 $(PY) -m pytest $(PYTEST_ARGS)

# LOOP_ARGS: the configuration tests/loop_e2e_test.py checks and the README's
# table comes from; e.g. LOOP_ARGS="--rows 5000 --epochs 20" for a larger world.
LOOP_ARGS ?= --rows 3000 --small
loop: setup
	@bash scripts/install_test_tools.sh
	TF_USE_LEGACY_KERAS=1 $(PY) -m cli.loop --overwrite $(LOOP_ARGS)

clean:
	rm -rf work $(DEFAULT_DATA)

# Builds the pipeline image kubeflow_runner.py --image refers to (needs a Docker
# engine; CI has none). Push it where the cluster can pull it.
IMAGE ?= tfx-e2e-pipeline:dev
DOCKER ?= docker
.PHONY: image
image:
	$(DOCKER) build -t $(IMAGE) .
