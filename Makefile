# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs
# the pinned project (pyproject.toml) into it the first time.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# AWS's SAM CLI (translator, validate, build) and checkov pin versions the project cannot share: each
# lives in a virtual environment of its own, installed from tools/*-requirements.txt.
SAM_VENV ?= .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-stamp
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp

.PHONY: demo test lint fmt clean openapi events bench bench-wait bench-startup chaos
.PHONY: validate build checkov test-py313

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(SAM_STAMP): tools/sam-requirements.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r tools/sam-requirements.txt
	touch $(SAM_STAMP)

$(CHECKOV_STAMP): tools/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r tools/checkov-requirements.txt
	touch $(CHECKOV_STAMP)

demo: $(STAMP) $(SAM_STAMP)
	$(BIN)/dispatch-verify demo

# The suite spreads over the machine's cores (pytest-xdist, work stealing); `$(BIN)/pytest tests/...`
# runs a part of it in one process.
PYTEST_ARGS ?= -n auto --dist worksteal

test: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy functions/
	$(BIN)/statelint statemachine/dispatch_verify.asl.json
	$(BIN)/cfn-lint template.yaml

# docs/openapi.json is generated from the API's code (a test fails when it is stale).
openapi: $(STAMP)
	PYTHONPATH=functions $(BIN)/python -m dispatch_verify.handlers.api > docs/openapi.json

# The workflow (polling only, and with webhooks) against the blocked poller teams run today: 1,000
# seeded dispatch scenarios started in one virtual minute; one table, figures in bench/results.json.
# Takes a while (about half an hour on 2 cores); `python -m bench.compare --n 100` for a quick look.
bench: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m bench.compare --json bench/results.json

# Detection lag, webhooks against polling only (virtual clock); figures also in bench/wait_latency.json.
bench-wait: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m bench.wait_latency --json bench/wait_latency.json

# Lambda start-up: each handler's cold import against `import livekit.api` (issue 14: at most 1.5x),
# request -> CreateDispatch cold and warm (each function in a fresh process against moto and the
# simulator), and the warm per-call LiveKit overhead; figures also in bench/startup.json.
bench-startup: $(STAMP)
	$(BIN)/python -m bench.startup --json bench/startup.json

# Chaos suite: 300 seeded executions under random LiveKit faults, every invariant checked; progress
# and a summary table on stderr, exit status 1 on any violation (a small run is in `make test`).
chaos: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m bench.chaos --executions 300 --seed 7

# --- AWS's own checks: SAM's transform, sam build, checkov, and the suite on the Lambda runtime's Python ---

# SAM's transform for every ApiAuth x LiveKitWebhooks combination (`sam validate` takes no parameter
# values: each is a copy of template.yaml with other defaults, in .cache/validate/), then cfn-lint
# through SAM (`sam validate --lint`).
validate: $(SAM_STAMP)
	$(PYTHON) tools/validate_combinations.py --sam $(SAM_VENV)/bin/sam

# `sam build` wants the functions' runtime (python3.13) on PATH: pyenv's newest 3.13, else one on PATH
# (PY313=/path/to/python3.13 to choose). pip fetches the arm64 (aarch64) wheels. `sam build` ships no
# .pyc and Lambda's /var/task is read-only, so every cold start would compile every module it imports:
# tools/compile_build.py compiles each function's directory with that python3.13 to hash-based .pyc
# (PEP 552: SAM's zip has no timestamps a timestamp-based .pyc could match). tools/check_build.py then
# checks the artifact (dependencies, no stubs, the pinned boto3/botocore, an up-to-date .pyc for every
# .py) and prints its size. Deploy with `make build` then `sam deploy`: plain `sam build` ships no .pyc.
PY313 ?= $(or $(lastword $(sort $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13))),$(shell command -v python3.13 2>/dev/null))

build: $(SAM_STAMP)
	@test -n "$(PY313)" && "$(PY313)" --version >/dev/null 2>&1 || \
		{ echo "make build: no python3.13 found (pyenv install 3.13, or make build PY313=/path/to/python3.13)"; exit 1; }
	PATH="$(dir $(PY313)):$$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} \
		$(SAM_VENV)/bin/sam build
	$(PYTHON) tools/compile_build.py --python "$(PY313)"
	$(PYTHON) tools/check_build.py --python "$(PY313)"

# checkov on template.yaml with .checkov.yaml (each skipped check says why); BC_SKIP_MAPPING keeps it
# from fetching Prisma Cloud's guideline names over the network.
checkov: $(CHECKOV_STAMP)
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

# The unit and state machine tests on Python 3.13, the Lambda runtime's (.venv-py313, pyenv's 3.13).
PY313_VENV ?= .venv-py313
PY313_STAMP := $(PY313_VENV)/.installed-stamp

$(PY313_STAMP): pyproject.toml
	@test -n "$(PY313)" || { echo "no python3.13 found (pyenv install 3.13, or PY313=...)"; exit 1; }
	$(PY313) -m venv $(PY313_VENV)
	$(PY313_VENV)/bin/pip install --quiet --upgrade pip
	$(PY313_VENV)/bin/pip install --quiet -e ".[dev]"
	touch $(PY313_STAMP)

test-py313: $(PY313_STAMP)
	$(PY313_VENV)/bin/pytest tests/unit tests/statemachine -q -p no:cacheprovider

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam

# Mutation testing of the decision code (logic/, the models' validators and bounds, the LiveKit error
# mapping): each mutant against the specs that execute its line, in a copy of HEAD (tools/mutate.py;
# equivalent mutants in tools/mutation-equivalents.txt). Long, so not in `make test` or CI; the README
# reports the last run. MUTATE_ARGS="--sample 60 --seed 1" for a quick look, "--worktree" for
# uncommitted work.
.PHONY: mutate
MUTATE_ARGS ?=
mutate: $(STAMP) $(SAM_STAMP)
	$(BIN)/python tools/mutate.py $(MUTATE_ARGS)

# docs/events: a JSON Schema and a sample per outcome event detail-type, from the outcome model (a test
# fails when they are stale).
events: $(STAMP)
	PYTHONPATH=functions $(BIN)/python -m dispatch_verify.events_doc docs/events
