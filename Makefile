# make dev   set everything up and run the whole system locally (no network needed)
# make test  set everything up and run the whole test suite
# make bench run the benchmarks (figures go to docs/BENCHMARKS.md)
# make smoke check a running `make dev` end to end (match request -> sandbox chat -> answer)
# make package build a stage's three Lambda packages as they are uploaded (STAGE=dev|prod), checked
# make rehearse deploy a whole dev stage on this machine the documented way, under AWS's rules (docs/REHEARSAL.md)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install dev smoke test test-postgres bench lint collectstatic clean package rehearse

# The stamp's name is the requirements' checksum, so it changes exactly when they do. Order-only
# prerequisites (after |): a fresh clone's newer file times must not reinstall a venv that is
# already installed from the same requirements.
$(STAMP): | requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

dev: install
	$(PY) -m infra.local.devstack

smoke: install
	$(PY) -m infra.local.smoke

# Two workers (pytest-xdist; one file's tests stay together, so a module's fixtures are made
# once): most tests wait on subprocesses, servers and the database, and the suite takes about
# 60 % of its one-process time on two cores. `make test PYTEST_ARGS="tests/bot -p no:xdist"`
# runs a part in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

collectstatic: install
	STAGE=local $(PY) manage.py collectstatic --noinput

package: install
	$(PY) -m infra.aws.package --stage $${STAGE:-dev}

rehearse: install
	$(PY) -m infra.rehearse

lint: install
	$(VENV)/bin/cfn-lint infra/aws/*.yaml

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
