# The README's two commands are `make dev` and `make test`; everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# SAM needs python3.13 (the function's runtime) on PATH; pyenv provides it here.
export PYENV_VERSION ?= 3.11.7:3.13.0

.PHONY: venv dev test check unit-tests lint typecheck system-requirements lock

# Every venv installs from a lock file: requirements*.txt, every package pinned with its
# hashes (pip --require-hashes), compiled by `make lock` from the requirements*.in lists
# (uv pip compile --universal: one lock for Linux on x86_64 and arm64; the function's
# for Python 3.13, the Lambda runtime's). `make lock` refreshes them all to the newest
# releases the lists allow; review the diff and run the suite before committing it.
# A lock holds every dependency, so pip installs it as it is (--no-deps): pip's hash mode
# would otherwise refuse a dependency that asks for extras its pinned line does not name.
PIP_INSTALL = -m pip install -q --disable-pip-version-check --require-hashes --no-deps
LOCK = UV_NATIVE_TLS=1 $(VENV)/bin/uv pip compile --quiet --universal --generate-hashes --upgrade \
	--custom-compile-command "make lock" --annotation-style line

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -r requirements-dev.txt
	touch $@

lock: venv
	$(LOCK) --python-version 3.11 requirements-dev.in -o requirements-dev.txt
	$(LOCK) --python-version 3.13 requirements.in --constraint requirements-dev.txt -o requirements.txt
	$(LOCK) --python-version 3.13 requirements-runtime-tests.in -o requirements-runtime-tests.txt
	$(LOCK) --python-version 3.13 requirements-lambda-runtime.in -o requirements-lambda-runtime.txt
	$(LOCK) --python-version 3.11 requirements-checkov.in -o requirements-checkov.txt
	$(LOCK) --python-version 3.11 requirements-mutation.in -o requirements-mutation.txt

# ruff (lint and format) and mypy --strict over handler, infra and tests (pyproject.toml's
# [tool.mypy] packages). `ruff format handler infra tests` fixes what the check reports.
lint: venv
	$(VENV)/bin/ruff check handler infra tests
	$(VENV)/bin/ruff format --check handler infra tests
	$(VENV)/bin/mypy --strict

# The full suite: the system packages first (infra/tools/system-requirements.sh installs
# Debian's chromium and chromium-driver when missing and this user may, or stops at
# once with the command to run), then the static checks, then pytest (unit,
# integration, the local stack, the browser, the template's cfn-lint / sam validate /
# sam build) on PYTEST_WORKERS processes (pytest-xdist). Coverage is measured, and its
# 90 % gate applied, in this full run only: a partial `pytest tests/e2e` measures none.
# pytest's exit code 5 ("no tests ran") fails the target like any other failure.
#
# Every run takes the tests in a random order (pytest-randomly) and prints its seed;
# `make test SEED=<seed>` (also check, test-runtime) reruns that order.
# Three processes on this machine's two cores: much of the suite waits (on subprocesses, servers,
# Chromium, timeouts), and two workers kept about 1.4 of the 2 cores busy over the full run.
PYTEST_WORKERS ?= 3
COVERAGE := --cov=handler --cov-report=term-missing:skip-covered --cov-fail-under=90
ifeq ($(origin SEED),undefined)
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
RANDOM_ORDER := -p randomly --randomly-seed=$(SEED)
say_seed = @echo "random order: SEED=$(SEED) (make $@ SEED=$(SEED) reruns it)"
no_tests_ran_fails = status=$$?; if [ $$status -eq 5 ]; then echo "pytest: no tests ran" >&2; fi; exit $$status

# Before the full run, side by side (make -j; each step's output printed whole when it ends):
# the static checks, the 3.13 run, and what the local-stack, deploy and bench tests need
# built (the Lambda runtime venv, the local artifact, checkov's venv), which pytest would
# otherwise build in the middle of its run while a worker waits.
TEST_PREREQUISITES := lambda-venv local-artifact checkov-venv

test: system-requirements
	@$(MAKE) --no-print-directory -j 4 --output-sync=target lint test-runtime $(TEST_PREREQUISITES) SEED=$(SEED)
	$(say_seed)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(RANDOM_ORDER) $(COVERAGE); $(no_tests_ran_fails)

system-requirements:
	@infra/tools/system-requirements.sh
	@$(PYTHON) -m infra.tools.doctor --for test

# The inner loop, under 20 s: ruff, mypy --strict and the unit tests, side by side (make -j:
# mypy keeps one core busy; each step's output printed whole when it ends).
check: venv
	@$(MAKE) --no-print-directory -j 2 --output-sync=target lint unit-tests SEED=$(SEED)

unit-tests: venv
	$(say_seed)
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q -p no:cacheprovider $(RANDOM_ORDER) tests/unit; $(no_tests_ran_fails)

# The unit, security and fuzz tests, the LTI launch and attack tests (not the real
# platform, the browser or the template: they need the development tools), the partner
# registry's isolation tests and the INIT prefetch's (TLS session tickets, threads),
# again under the Lambda runtime's Python (3.13):
# the standard library differs between versions (json's recursion limit on nested
# input is one example), so passing on 3.11 alone proves nothing about Lambda.
# The runtime's own venv (.venv-3.13) is made from requirements-runtime-tests.txt
# with pyenv's python3.13 (RUNTIME_PYTHON overrides it), once, and again when the
# list or the pinned runtime dependencies change.
RUNTIME_PYTHON ?= python3.13
RUNTIME_VENV := .venv-3.13
RUNTIME_PY := $(RUNTIME_VENV)/bin/python

.PHONY: test-runtime runtime-venv

runtime-venv: $(RUNTIME_VENV)/.installed
$(RUNTIME_VENV)/.installed: requirements-runtime-tests.txt
	@command -v $(RUNTIME_PYTHON) > /dev/null || { echo "make test-runtime needs $(RUNTIME_PYTHON) \
	(pyenv: pyenv install 3.13; or RUNTIME_PYTHON=/path/to/python3.13)" >&2; exit 1; }
	rm -rf $(RUNTIME_VENV)
	$(RUNTIME_PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_PY) $(PIP_INSTALL) -r requirements-runtime-tests.txt
	touch $@

test-runtime: runtime-venv
	$(RUNTIME_PY) -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version'
	$(say_seed)
	$(RUNTIME_PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -p no:cacheprovider $(RANDOM_ORDER) tests/unit tests/security tests/fuzz \
		tests/lti --ignore=tests/lti/platform --ignore=tests/lti/test_template_lti.py \
		tests/integration/test_partner_registry.py tests/faults/test_init_prefetch.py

# ---------------------------------------------------------------------------
# Build (SAM). `sam build` runs the target build-SsoFunction below for the
# function (template.yaml: Metadata BuildMethod: makefile). SAM does not pass
# the function's architecture to a makefile build, so ARCHITECTURE (exported
# to infra/deploy/build-function.sh) must match the template's Architecture parameter:
# `make build ARCHITECTURE=x86_64` sets both.
# ---------------------------------------------------------------------------
ARCHITECTURE ?= arm64
export ARCHITECTURE
SAM := $(VENV)/bin/sam

.PHONY: build validate build-SsoFunction build-GradeSyncFunction

build: venv
	SAM_CLI_TELEMETRY=0 $(SAM) build --build-in-source --parameter-overrides Architecture=$(ARCHITECTURE)

validate: venv
	$(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0 $(SAM) validate --lint

# Called by `sam build` with ARTIFACTS_DIR set; not meant to be run by hand.
build-SsoFunction:
	infra/deploy/build-function.sh "$(ARTIFACTS_DIR)"

# The grade passback function (LtiGradePassback=Enabled): the same package, another handler.
build-GradeSyncFunction:
	infra/deploy/build-function.sh "$(ARTIFACTS_DIR)"

# ---------------------------------------------------------------------------
# Lambda without Docker (infra/local/environments.py, runtime_api.py): the built
# artifact runs under AWS's runtime interface client (awslambdaric) on the runtime's
# Python (3.13), each execution environment its own process with its own Runtime API.
#   make invoke EVENT=events/sso-get.json [ENV=events/env.json] [TOKEN=<jwt>] [SNAPSTART=1]
# is `sam local invoke` without Docker: the answer on stdout; logs, START/END and the
# REPORT line on stderr. ENV defaults to events/env.json.example (make dev's services); an
# event's REPLACE_WITH_A_JWT becomes TOKEN, or a fresh token from make dev's identity provider. local-artifact builds (sam build) for this machine's
# architecture into .aws-sam/build, again when the handler, requirements or template
# change; lambda-venv is the runtime (.venv-lambda, requirements-lambda-runtime.txt).
# ---------------------------------------------------------------------------
LAMBDA_VENV := .venv-lambda
LOCAL_ARCHITECTURE := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
LOCAL_ARTIFACT_STAMP := .aws-sam/build/SsoFunction/.built-for-$(LOCAL_ARCHITECTURE)

.PHONY: invoke lambda-venv local-artifact

lambda-venv: $(LAMBDA_VENV)/.installed
$(LAMBDA_VENV)/.installed: requirements-lambda-runtime.txt
	@command -v $(RUNTIME_PYTHON) > /dev/null || { echo "the Lambda runtime needs $(RUNTIME_PYTHON) \
	(pyenv: pyenv install 3.13; or RUNTIME_PYTHON=/path/to/python3.13)" >&2; exit 1; }
	rm -rf $(LAMBDA_VENV)
	$(RUNTIME_PYTHON) -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/python $(PIP_INSTALL) -r requirements-lambda-runtime.txt
	touch $@

# Everything the artifact is built from: every file of the package at any depth (handler/lti/
# too), the requirements, the template and the build script.
LOCAL_ARTIFACT_INPUTS = $(shell find handler -type f -not -path '*/__pycache__/*' -not -name '*.py[co]') \
	requirements.txt template.yaml infra/deploy/build-function.sh

local-artifact: $(LOCAL_ARTIFACT_STAMP)
$(LOCAL_ARTIFACT_STAMP): $(LOCAL_ARTIFACT_INPUTS) | venv
	@echo "sam build for $(LOCAL_ARCHITECTURE) (the local Lambda environments run it)..." >&2
	@mkdir -p build && $(MAKE) --no-print-directory build ARCHITECTURE=$(LOCAL_ARCHITECTURE) \
		> build/local-artifact.log 2>&1 || { cat build/local-artifact.log >&2; exit 1; }
	@touch $@

invoke: venv lambda-venv local-artifact
	@test -n "$(EVENT)" || { echo "usage: make invoke EVENT=events/sso-get.json [ENV=events/env.json] [TOKEN=<jwt>] [SNAPSTART=1]" >&2; exit 2; }
	@$(PY) -m infra.local.invoke $(call partner_flag,ENV,--env-vars) $(call partner_flag,TOKEN,--token) \
		$(if $(filter-out 0,$(SNAPSTART)),--snap-start) -- $(call shell_quote,$(EVENT))

# ---------------------------------------------------------------------------
# Local stack (infra/local/). `make dev` starts, on 127.0.0.1: the handler behind
# a local API Gateway (:3000), a development identity provider (:3001), a sandbox
# Big Interview (:3002) and moto as Secrets Manager (:3003); Ctrl-C stops it.
# Ports: LOCAL_API_PORT, LOCAL_IDP_PORT, LOCAL_BI_PORT, LOCAL_SECRETS_PORT, LOCAL_LMS_PORT
# (LTI=1: :3004); PARTNERS=n: 3005 and up, two each. A taken port is named with its variable.
# BI_BASE_URL, BI_API_KEY_SECRET_ID, AWS_ENDPOINT_URL, JWT_ISSUER point it at
# real services instead: see infra/local/README.md. One line per request by
# default; VERBOSE=1 adds the handler's JSON logs and metrics. The handler runs in
# execution environments as above (a pool, one process per concurrent request);
# SNAPSTART=1 runs INIT with the before_snapshot hooks and after_restore first;
# IN_PROCESS=1 imports the source tree's handler into the stack's process instead.
# ---------------------------------------------------------------------------
dev: doctor-dev venv lambda-venv local-artifact
	$(PY) -m infra.local

# `make grade-sync`: one run of the scheduled grade passback function against a running
# `make dev LTI=1` (infra/local/grade_sync.py); the scores show on the sandbox LMS's /gradebook.
.PHONY: grade-sync
grade-sync: venv
	$(PY) -m infra.local.grade_sync

# `make doctor`: one screen of what this machine has and lacks for each command, with the
# command that fixes each gap (infra/tools/doctor.py: standard library only, so it runs
# before any venv exists). `make dev` and `make test` run its checks for themselves first.
.PHONY: doctor doctor-dev
doctor:
	@$(PYTHON) -m infra.tools.doctor

doctor-dev:
	@$(PYTHON) -m infra.tools.doctor --for dev

# ---------------------------------------------------------------------------
# Partner tools (infra/partner/; docs/partner-guide.md):
#   make keys [ALG=ES256] [OUT=keys/]
#   make token USER=abc123 EMAIL= FIRST= LAST= [REDIRECT_TO= KEY= KID= ISS= AUD= API= IDP=
#              EXISTING_USER=yes]
#   make check-link URL=<link or token> [JWKS= ISS= AUD= MAX_AGE= LEEWAY= USER_CLAIM= ALGORITHMS=
#                   RETURN_ORIGINS= ONE_TIME_LINKS=off] [PARTNER=<registry id> TABLE=]
# Only variables given on the make command line become flags: USER, for one, is
# also the login name in the environment. Each value reaches the tool as one argument,
# whatever it starts with: single-quoted for the shell, joined to its flag (--kid=-abc;
# argparse would take a separate '-abc' for a flag), positionals after '--'.
# The recipes are silent (@) because a token is a login: make must not echo it.
# ---------------------------------------------------------------------------
shell_quote = '$(subst ','\'',$(1))'
partner_flag = $(if $(filter command line,$(origin $(1))),$(2)=$(call shell_quote,$($(1))))

.PHONY: keys token check-link check-launch

keys: venv
	@$(PY) -m infra.partner.keys $(call partner_flag,ALG,--alg) $(call partner_flag,OUT,--out)

token: venv
	@$(PY) -m infra.partner.token $(call partner_flag,USER,--user) $(call partner_flag,EMAIL,--email) \
		$(call partner_flag,FIRST,--first) $(call partner_flag,LAST,--last) \
		$(call partner_flag,REDIRECT_TO,--redirect-to) $(call partner_flag,KEY,--key) \
		$(call partner_flag,KID,--kid) $(call partner_flag,ISS,--iss) $(call partner_flag,AUD,--aud) \
		$(call partner_flag,API,--api) $(call partner_flag,IDP,--idp) \
		$(call partner_flag,EXISTING_USER,--existing-user)

check-link: venv
	@$(PY) -m infra.partner.check_link $(call partner_flag,JWKS,--jwks) $(call partner_flag,ISS,--iss) \
		$(call partner_flag,AUD,--aud) \
		$(call partner_flag,MAX_AGE,--max-age) $(call partner_flag,LEEWAY,--leeway) \
		$(call partner_flag,USER_CLAIM,--user-claim) $(call partner_flag,ALGORITHMS,--algorithms) \
		$(call partner_flag,RETURN_ORIGINS,--return-origins) \
		$(call partner_flag,ONE_TIME_LINKS,--one-time-links) \
		$(call partner_flag,PARTNER,--partner) $(call partner_flag,TABLE,--table) \
		-- $(if $(filter command line,$(origin URL)),$(call shell_quote,$(URL)),-)

# ---------------------------------------------------------------------------
# The partner registry (PartnerRegistry=Enabled; docs/operations.md "Partners"):
#   make partner-add FILE=record.json [REPLACE=yes]   validated before anything is written
#                      (a partner, or an LTI platform registration: "kind": "lti_platform", docs/lti.md)
#   make partner-list
#   make partner-disable PARTNER=<id>  /  make partner-enable PARTNER=<id>
#                      (PARTNER= may be a record's key as partner-list shows it: lti|<iss>|<client_id>)
# TABLE= (or PARTNER_REGISTRY_TABLE) is the stack's output PartnerRegistryTableName; AWS
# credentials as usual, or AWS_ENDPOINT_URL=http://127.0.0.1:3003 for make dev's moto.
# ---------------------------------------------------------------------------
.PHONY: partner-add partner-list partner-disable partner-enable

partner_table = $(call partner_flag,TABLE,--table)

partner-add: venv
	@$(PY) -m infra.tools.partners $(partner_table) add $(if $(filter yes,$(REPLACE)),--replace) \
		$(if $(filter command line,$(origin FILE)),-- $(call shell_quote,$(FILE)))

partner-list: venv
	@$(PY) -m infra.tools.partners $(partner_table) list

partner-disable partner-enable: venv
	@$(PY) -m infra.tools.partners $(partner_table) $(subst partner-,,$@) \
		$(if $(filter command line,$(origin PARTNER)),-- $(call shell_quote,$(PARTNER)))

# make check-launch ISS= CLIENT_ID= DEPLOYMENT_IDS= JWKS= [TOOL=] [TOKEN=]: a captured LTI
# launch's id_token through the service's launch verifier (docs/lti.md); stdin without TOKEN.
check-launch: venv
	@$(PY) -m infra.partner.check_launch $(call partner_flag,ISS,--iss) \
		$(call partner_flag,CLIENT_ID,--client-id) \
		$(call partner_flag,DEPLOYMENT_IDS,--deployment-ids) $(call partner_flag,JWKS,--jwks) \
		$(call partner_flag,TOOL,--tool) \
		-- $(if $(filter command line,$(origin TOKEN)),$(call shell_quote,$(TOKEN)),-)

# ---------------------------------------------------------------------------
# Infrastructure checks (issue 5: monitoring, limits, security scans, artifact).
# checkov lives in its own venv: it pins boto3/botocore versions aws-sam-cli
# does not accept. `make checkov` scans template.yaml and infra/deploy/monitoring.yaml
# (0 failed checks expected; skips carry a one-line reason in the template).
# tests/deploy/test_checkov.py runs the same scan inside `make test`, creating
# the venv through `make checkov-venv` when missing (about 50 s). The artifact
# check (tests/deploy/test_artifact.py) writes its figures to build/artifact.json;
# `make artifact` runs just that test.
# ---------------------------------------------------------------------------
CHECKOV_VENV := .venv-checkov
CHECKOV_FILES := template.yaml infra/deploy/monitoring.yaml

.PHONY: checkov checkov-venv artifact

checkov-venv: $(CHECKOV_VENV)/.installed
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r requirements-checkov.txt
	touch $@

checkov: checkov-venv
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download --compact --quiet \
		$(addprefix -f ,$(CHECKOV_FILES))

artifact: venv
	$(PY) -m pytest -p no:cacheprovider tests/deploy/test_artifact.py

# ---------------------------------------------------------------------------
# Fuzzing (issue 3). `make test` runs the property tests in tests/fuzz/ with the
# hypothesis profile "ci" (1,800 examples, under 30 s); `make fuzz` runs them
# with the profile "long" (50,000 examples per property, no deadline; failing
# examples are kept in build/hypothesis) and prints hypothesis's statistics.
# ---------------------------------------------------------------------------
.PHONY: fuzz

fuzz: venv
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -p no:cacheprovider \
		--hypothesis-show-statistics tests/fuzz

# ---------------------------------------------------------------------------
# API description: docs/openapi.json, generated from the handler's own routes
# (handler/api_description.py holds their metadata). tests/api fails when the
# committed file is stale, and runs schemathesis from it against the local stack.
# ---------------------------------------------------------------------------
.PHONY: openapi

openapi: venv
	$(PY) -m infra.tools.openapi

# ---------------------------------------------------------------------------
# Performance (issue 6): `make bench` prints the table and writes
# build/bench.json and build/bench.png (README "Performance"). Cold starts run
# in fresh child processes of BENCH_PYTHON (default: the venv's interpreter);
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--cold-samples 5 --artifact file".
# tests/bench/test_bench_smoke.py runs the same machinery with tiny counts. The cold
# table's "Lambda env." row runs the built artifact in new execution environments.
# Section 1b (cold under latency) runs its children on .venv-3.13 (Lambda's Python);
# BENCH_ARGS="--latency-samples 5 --latency partner_api=150/150" changes it, 0 skips it;
# its registry-partner and LTI-launch rows take --latency-flow-samples (0 leaves them out).
# ---------------------------------------------------------------------------
BENCH_PYTHON ?= $(PY)
BENCH_ARGS ?=

.PHONY: bench

bench: venv runtime-venv lambda-venv local-artifact
	$(PY) -m infra.bench --python $(BENCH_PYTHON) $(BENCH_ARGS)

# ---------------------------------------------------------------------------
# Mutation testing (not part of make test): mutmut changes handler/tokens.py, keys.py,
# redirects.py, url_rules.py and lti/claims.py one mutant at a time (pyproject.toml
# [tool.mutmut]) and runs the unit tests that execute the changed function; then
# infra/tools/mutation_scores.py prints each module's share of mutants killed and every
# mutant neither killed nor named equivalent in docs/testing.md (it fails while one is left).
# `make mutation MUTANTS='handler.url_rules.*'` runs a subset. mutmut needs a newer click
# than aws-sam-cli accepts: it has its own venv (.venv-mutation, requirements-mutation.txt).
# ---------------------------------------------------------------------------
MUTATION_VENV := .venv-mutation
MUTANTS ?=

.PHONY: mutation mutation-venv

mutation-venv: $(MUTATION_VENV)/.installed
$(MUTATION_VENV)/.installed: requirements-mutation.txt
	rm -rf $(MUTATION_VENV)
	$(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/python $(PIP_INSTALL) -r requirements-mutation.txt
	touch $@

mutation: venv mutation-venv
	rm -rf mutants
	$(MUTATION_VENV)/bin/mutmut run --max-children $(PYTEST_WORKERS) $(MUTANTS)
	$(MUTATION_VENV)/bin/mutmut results --all true | $(PY) -m infra.tools.mutation_scores
