# Two commands matter: `make run` and `make test`. Everything else is a helper.
# Python 3.11 (pyproject: >=3.11,<3.12): python3.11 if there is one, else python3 (checked below).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The dev lock (deploy/docker/lock.py dev): the same versions as the images, plus the dev and test tools.
LOCK   := requirements-dev.txt
# torch is pinned to its CPU build (+cpu in the lock). It is installed first, on its own: from what pip already
# finds (a local wheel), else from the PyTorch CPU index. Only that one install ever asks that index, so the
# lock's other packages never wait on an index the machine cannot reach.
TORCH       := $(shell grep -E '^torch==' requirements-dev.txt)
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu

.PHONY: run test install lint fmt clean servers migrate system-packages bench-transcription bench-chat bench-gateway bench-search bench-webhooks bench-widget chaos \
	admin admin-api admin-test-deps

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || { \
	  $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
	    || { echo "Python 3.11 is needed: install it or run 'make PYTHON=/path/to/python3.11 ...'" >&2; exit 1; }; \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-deps "$(TORCH)" 2>/dev/null \
	  || $(BIN)/python -m pip install -q --no-deps --extra-index-url "$(TORCH_INDEX_URL)" "$(TORCH)"
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# Everything: embedded Postgres + Redis (or DATABASE_URL/REDIS_URL), migrations, demo seed, services, workers,
# gateway. Ctrl-C stops it all. See README.md and docs/dev-stack.md.
run: install
	@bash scripts/admin.sh maybe-build
	$(BIN)/python -m devtools dev

# Only the embedded Postgres + Redis, for running services by hand; `migrate` upgrades every schema.
servers: install
	$(BIN)/python -m devtools servers

migrate: install
	$(BIN)/python -m devtools migrate

test: install system-packages admin-test-deps
	$(BIN)/ruff check .
	cd admin && npm run --silent typecheck && npx vitest run
	ATENDE_REQUIRE_BROWSER=1 $(BIN)/python -m pytest --durations=25

lint: install
	$(BIN)/ruff check .

fmt: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf .data $(VENV)

# Debian packages the tests need (espeak-ng, ffmpeg, sox); installs only what is missing.
system-packages:
	@bash scripts/ensure-system-packages.sh

# Real-time factor and word error rate of the local transcription engine (numbers in docs/benchmarks/transcription.md).
bench-transcription: install system-packages
	$(BIN)/python bench/transcription.py

bench-chat: install
	$(BIN)/python -m bench.chat

# Gateway vs nginx vs direct on loopback (needs the Debian packages nginx and wrk; numbers in docs/benchmarks/gateway.md).
bench-gateway: install
	$(BIN)/python -m bench.gateway

# Tenant-filtered vector / keyword / hybrid search (numbers in docs/benchmarks/search.md); e.g. BENCH_SEARCH_ARGS="--rows 1000000".
bench-search: install
	$(BIN)/python bench/search.py $(BENCH_SEARCH_ARGS)

# Signed Twilio webhooks against the running pipeline + webhook -> send latency (numbers in docs/benchmarks/pipeline.md);
# e.g. BENCH_WEBHOOKS_ARGS="--levels 1:200,64:2000 --api-workers 2 --pause-workers".
bench-webhooks: install
	$(BIN)/python -m bench.webhooks $(BENCH_WEBHOOKS_ARGS)

# Web chat visitor streams through one gateway and one channels API: streams held, memory per stream, answer latency
# (numbers in docs/benchmarks/widget.md); e.g. BENCH_WIDGET_ARGS="--streams 200 --samples 50".
bench-widget: install
	$(BIN)/python -m bench.widget $(BENCH_WIDGET_ARGS)

# Chaos under load at full size (tests/e2e/chaos.py; numbers in docs/benchmarks/reliability.md): 10,000 messages over 400
# conversations while workers, relays, APIs, Redis and Postgres are killed; e.g. CHAOS_ARGS="--messages 2000 --kills 10".
chaos: install
	$(BIN)/python -m tests.e2e.chaos $(CHAOS_ARGS)

# 30 minutes of moderate mixed load on the pipeline: RSS, fds, Redis memory, stream lengths and p99 must stay flat
# (numbers in docs/benchmarks/reliability.md); e.g. SOAK_ARGS="--minutes 5 --interval 15". Not part of CI.
soak: install
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# The admin console (admin/, docs/admin.md): production build served by the gateway at /admin.
admin:
	@bash scripts/admin.sh build

# Regenerate admin/src/api/schema.d.ts from a running gateway's merged OpenAPI (`make run` first).
admin-api:
	@bash scripts/admin.sh deps
	cd admin && npx openapi-typescript $${OPENAPI_URL:-http://127.0.0.1:8000/openapi.json} -o src/api/schema.d.ts

# What the admin tests need: npm packages (npm ci) and Debian's chromium for the browser tests.
admin-test-deps:
	@bash scripts/admin.sh deps
	@bash scripts/admin.sh browser
