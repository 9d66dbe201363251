# Run `make` (or `make help`) for the list of targets. Every target is a thin wrapper around
# a go command or a script in scripts/, so each can also be run by hand.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO         ?= go
VERSION    := $(shell git describe --always --dirty 2>/dev/null)
PKGS       ?= ./...
TEST_FLAGS ?= -race -count=1 -timeout 40m

.PHONY: help build test bench demo lint tools stack stack-stop

help: ## Show this list of targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  make %-11s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## Build bin/linkbackup, version stamped from git describe
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/linkbackup ./cmd/linkbackup

test: ## go vet + go test -race against real PostgreSQL 15, versitygw, mailpit (PKGS=, TEST_FLAGS=)
	$(GO) vet ./...
	bash scripts/teststack.sh run -- $(GO) test $(TEST_FLAGS) $(PKGS)

bench: ## Run the benchmarks (scripts/bench.sh)
	bash scripts/bench.sh

demo: ## One-command tour: throwaway PostgreSQL, generated data, backup, list, verify
	bash scripts/demo.sh

STATICCHECK := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/linkbackup/bin/staticcheck-v0.8.2

lint: ## gofmt -l is empty, go vet, staticcheck (pinned in tools/), go mod tidy leaves no diff
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l reports:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@[ -x $(STATICCHECK) ] || (cd tools && $(GO) build -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck)
	$(STATICCHECK) ./...
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff

tools: ## Build versitygw + mailpit pinned in tools/go.mod into ~/.cache/linkbackup/bin
	bash scripts/teststack.sh tools

stack: ## Start the test servers and keep them up; prints `source ENVFILE` for go test
	bash scripts/teststack.sh start

stack-stop: ## Stop the servers started by `make stack` (by PID) and delete their state
	bash scripts/teststack.sh stop
