# Taskhook. `make run` brings the pipeline up; `make test` runs every check CI runs.
SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/taskhook/taskhook/pkg/version.Version=$(VERSION)
# Every module of go.work, as directories and as package patterns.
MODULE_DIRS := $(shell $(GO) list -m -f '{{.Dir}}')
PACKAGES    := $(shell $(GO) list -m -f '{{.Path}}/...')
TEST_FLAGS  ?= -count=1 -timeout 15m

.PHONY: all build run soak screenshots test test-deps test-faults test-browser browser-deps lint fmt vet golangci modules bench pgo clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build bin/ingest, bin/dispatcher and bin/taskhookctl
	@mkdir -p bin
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ingest ./ingest/cmd/ingest
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/dispatcher ./dispatcher/cmd/dispatcher
	$(GO) build -trimpath -ldflags "-s -w" -o bin/taskhookctl ./cli/cmd/taskhookctl

bin/nats-server: e2e/go.mod ## a current nats-server, built from the Go module (for make bench)
	@mkdir -p bin
	cd e2e && $(GO) build -o ../bin/nats-server github.com/nats-io/nats-server/v2

run: build ## bring the whole pipeline up in the foreground (development defaults)
	./scripts/run.sh

test: lint modules test-deps test-canvas ## gofmt, go vet, standalone module builds, the Canvas plugin's tests, then every Go test (the browser tests and receiver kits too)
	$(GO) test $(TEST_FLAGS) $(PACKAGES)

test-canvas: ## the Canvas plugin's tests (integrations/canvas: system python3, standard library only)
	cd integrations/canvas && PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s tests

test-browser: browser-deps ## only the dashboard's browser tests (chromium + playwright-core + axe-core)
	$(GO) test $(TEST_FLAGS) -v -run TestDashboard ./e2e/browser/

# The tests' npm packages, as pinned in each package-lock.json (npm ci when node_modules is
# missing or older than the lock file): the browser tests (e2e/browser) and the Node.js receiver
# kit (examples/receivers/node). Only tests need Node.js: build and run do not.
NPM_DIRS := e2e/browser examples/receivers/node
test-deps:
	@for d in $(NPM_DIRS); do (cd $$d && if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi) || exit 1; done

browser-deps: test-deps

screenshots: browser-deps ## refresh the dashboard screenshots in docs/ (the browser tests, writing their pictures there)
	UI_SCREENSHOTS=docs $(GO) test $(TEST_FLAGS) -run TestDashboard ./e2e/browser/

lint: fmt vet golangci ## gofmt, go vet and golangci-lint over every module

# golangci-lint at the version pinned in tools/lint/go.mod (a module outside go.work, so that
# its dependencies never move the services'), built once into bin/; .golangci.yml picks the linters.
GOLANGCI := bin/golangci-lint
$(GOLANGCI): tools/lint/go.mod tools/lint/go.sum
	@mkdir -p bin
	cd tools/lint && GOWORK=off $(GO) build -o ../../$(GOLANGCI) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

golangci: $(GOLANGCI)
	$(GOLANGCI) run $(addsuffix /...,$(MODULE_DIRS))

fmt:
	@out=$$(gofmt -l $(MODULE_DIRS)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PACKAGES)

modules: ## each module also builds alone (GOWORK=off, as in a Docker build)
	@for d in $(MODULE_DIRS); do (cd $$d && GOWORK=off $(GO) build -o /dev/null ./... ) || { echo "module $$d does not build with GOWORK=off"; exit 1; }; done

# Every suite (ingest, delivery, pipeline, latency at 500 and 2000 events/s for 60 s each, backlog,
# due); BENCH_FLAGS picks or shortens, e.g. BENCH_FLAGS="-suites pipeline,latency -latency-duration 10s".
bench: build bin/nats-server ## measure throughput and latency against raw baselines; writes BENCHMARKS.md
	$(GO) run ./e2e/cmd/bench -out BENCHMARKS.md $(BENCH_FLAGS)

# The chaos soak: two dispatchers, three NATS nodes, a PostgreSQL of its own (initdb into a
# temporary directory), faults spread over SOAK_FLAGS' -duration (default 10m); exits 1 when an
# accepted event is lost. E.g. SOAK_FLAGS="-duration 3m -rate 50".
soak: build bin/nats-server ## chaos soak (default 10 min): kills a dispatcher, a NATS node, restarts PostgreSQL; reconciles every event
	$(GO) run ./e2e/cmd/soak $(SOAK_FLAGS)

# go build picks up default.pgo beside a main package (make build, the Dockerfiles): this writes
# both from a CPU profile of each service during the pipeline suite. Not committed: no measured
# gain for six times slower builds (BENCHMARKS.md); this is for the next experiment.
pgo: build bin/nats-server ## write ingest's and the dispatcher's default.pgo from the pipeline suite (an experiment)
	$(GO) run ./e2e/cmd/bench -suites pipeline -duration 30s -pgo

clean:
	rm -rf bin
