# AMOSKYS: `make run` and `make test` are the two commands of a fresh machine.
SHELL := /bin/bash
GO ?= go
BIN := bin/amoskys
LIBCHDB_VERSION := 26.5.3
LIBCHDB_CACHE ?= $(HOME)/.cache/amoskys/libchdb/$(LIBCHDB_VERSION)
export AMOSKYS_LIBCHDB ?= $(LIBCHDB_CACHE)/libchdb.so

.PHONY: build run test test-deps lint bench libchdb dev-up dev-down

build:
	$(GO) build -o $(BIN) ./cmd/amoskys

libchdb:
	@scripts/libchdb.sh "$(LIBCHDB_VERSION)" "$(LIBCHDB_CACHE)"

run: build libchdb
	$(BIN) run -c config.yaml

# Installs what the tests need (idempotently), then runs every test.
test-deps: libchdb
	@for f in scripts/deps/*.sh; do [ -x "$$f" ] && "$$f" || exit 1; done

test: test-deps build
	AMOSKYS_REQUIRE_DEPS=1 $(GO) test -race -shuffle=on -timeout 20m ./...
	$(BIN) test ./pipelines/...
	$(BIN) rules test rules

lint: build
	gofmt -l . | (! grep .) || (echo "gofmt needed on the files above"; exit 1)
	$(GO) vet ./...
	$(BIN) lint ./pipelines/*.yaml
	$(BIN) config validate -c config.yaml
	$(BIN) rules lint rules

bench: build libchdb
	@scripts/bench.sh

# Agent, detector and API as separate local processes on the sqlite bus (logs in logs/amoskys.log).
dev-up: build libchdb
	@scripts/dev-up.sh

dev-down:
	@scripts/dev-down.sh
