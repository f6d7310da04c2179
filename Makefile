# The two commands a newcomer needs: `make run` and `make test`.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: run run-release test prerequisites lint fmt guard doc build clean fuzz bench \
	docker-build docker-up docker-observability docker-down docker-test docker-check

## Start the service on the embedded default (SQLite in ./data), http://127.0.0.1:8000
run:
	$(CARGO) run -p server --bin orders-server

## The same, optimised.
run-release:
	$(CARGO) run --release -p server --bin orders-server

## The whole suite: lints, architecture guard, docs, unit and integration tests
## on SQLite and PostgreSQL, and the browser check. It installs what it needs
## (tests/setup/prerequisites.sh) and, when TEST_DATABASE_URL is unset and
## nothing answers on 127.0.0.1:5432, runs a throwaway PostgreSQL of its own
## (tests/setup/with-postgres.sh). SKIP_POSTGRES=1 / SKIP_BROWSER=1 skip those halves.
test: prerequisites lint guard doc
	$(CARGO) build --workspace --bins
	tests/setup/with-postgres.sh $(CARGO) test --workspace

TEST_NEEDS := $(if $(filter 1,$(SKIP_POSTGRES)),,postgres) $(if $(filter 1,$(SKIP_BROWSER)),,browser)

prerequisites:
	tests/setup/prerequisites.sh $(TEST_NEEDS)

## Schema-driven fuzzing with schemathesis (installed into target/venv) on
## SQLite and PostgreSQL; FUZZ_EXAMPLES per operation (default 300).
fuzz:
	tests/setup/prerequisites.sh postgres python
	tests/setup/with-postgres.sh tests/fuzz/schemathesis.sh

## Formatting and clippy, warnings are errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Handlers and the domain never see diesel; the domain stays free of web,
## storage, runtime and mail crates.
guard:
	@if $(CARGO) tree -p api -e normal --prefix none | grep -E '^diesel'; then \
		echo "guard: crates/api depends on diesel" >&2; exit 1; fi
	@if $(CARGO) tree -p domain -e normal --prefix none | grep -E '^(diesel|actix|tokio|bb8|lettre|hyper|sqlx|reqwest) '; then \
		echo "guard: crates/domain depends on an I/O crate" >&2; exit 1; fi
	@echo "guard: api and domain are free of diesel and I/O crates"

## API docs of the domain crate; its example runs as a doc-test in `make test`.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p domain -p api -p persistence -p notifications

## The service against PostgreSQL's own limit (pgbench, same SQL) in one run;
## prints a table and writes target/bench/latest.json.
bench:
	python3 bench/run.py

build:
	$(CARGO) build --release -p server --bin orders-server

# Docker Compose v2 (`docker compose`) when present, else v1 (`docker-compose`).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_FILE := docker/compose.yml

## The runtime image, tagged orders:latest.
docker-build:
	docker build -f docker/Dockerfile --target runtime -t orders:latest .

## Build and start the API with PostgreSQL: http://localhost:8000 (docs at /docs).
docker-up:
	$(COMPOSE) -f $(COMPOSE_FILE) up -d --build api
	@echo "orders: http://localhost:8000 (docs: http://localhost:8000/docs)"

## The same with Prometheus (http://localhost:9090) scraping /metrics with a key
## of its own, and Grafana with the orders dashboard (http://localhost:3000).
docker-observability:
	$(COMPOSE) -f $(COMPOSE_FILE) --profile observability up -d --build
	@echo "orders: http://localhost:8000  prometheus: http://localhost:9090  grafana: http://localhost:3000"

docker-down:
	$(COMPOSE) -f $(COMPOSE_FILE) --profile mail --profile test --profile observability down

## The test suite inside a container, against the compose PostgreSQL.
docker-test:
	$(COMPOSE) -f $(COMPOSE_FILE) --profile test build test
	$(COMPOSE) -f $(COMPOSE_FILE) --profile test run --rm test

## What CI checks without a Docker engine (docker/check.sh).
docker-check:
	tests/setup/prerequisites.sh compose python
	docker/check.sh

clean:
	$(CARGO) clean
	rm -rf data
