# Leviathan: every command a developer or CI needs. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SEEDS ?= 2000
FROM ?= 1
NPX := npx --no-install

.PHONY: help install gen build lint typecheck test unit integration sim bench dev clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  make sim SEEDS=N [FROM=S] [SCENARIO=x] [KNOB=k]; make sim SEED=S replays one seed with its trace"

node_modules/.package-lock.json: package.json package-lock.json engine/package.json operator/package.json e2e/package.json
	npm install --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json ## Install npm dependencies (from package-lock.json)

gen: install ## Generate TypeScript from proto/ (buf + ts-proto, offline)
	$(NPX) buf generate
	$(NPX) buf generate --template buf.gen.sql.yaml

build: gen ## Compile every workspace (tsc -b)
	$(NPX) tsc -b

typecheck: gen ## Type-check everything without emitting
	$(NPX) tsc -b --noEmit

lint: typecheck ## Type-check, lint TypeScript (eslint) and proto (buf lint)
	$(NPX) eslint .
	$(NPX) buf lint

test: lint ## Lint, unit tests with simulation smoke runs, then integration tests on real processes
	$(NPX) vitest run
	$(NPX) vitest run -c vitest.integration.config.ts

unit: gen ## Unit tests only (no lint, no integration tests)
	$(NPX) vitest run

integration: gen ## Integration tests: real engine processes on loopback (kill -9, partitions, corruption)
	$(NPX) vitest run -c vitest.integration.config.ts

SIM_FLAGS = $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(KNOB),--knob $(KNOB))

sim: gen ## Run the Raft simulator over SEEDS seeds in parallel (or replay SEED)
ifdef SEED
	$(NPX) tsx engine/test/sim/run.ts --seed $(SEED) $(SIM_FLAGS)
else
	$(NPX) tsx engine/test/sim/run.ts --seeds $(SEEDS) --from $(FROM) $(SIM_FLAGS)
endif

bench: gen ## Benchmarks, each beside a peer or physical limit measured in the same run
	$(NPX) tsx engine/bench/raft-core.ts
	$(NPX) tsx engine/bench/replicated-writes.ts
	$(NPX) tsx engine/bench/sql-vs-rqlite.ts
	$(NPX) tsx engine/bench/topic-vs-nats.ts

dev: gen ## Run a local 3-node engine cluster and a 3-replica topic on loopback (data in .leviathan-dev/; ARGS=--help)
	$(NPX) tsx engine/scripts/dev-cluster.ts $(ARGS)

clean: ## Remove build output and generated code
	rm -rf engine/dist operator/dist e2e/dist engine/src/gen operator/src/gen

include mk/kubernetes.mk
