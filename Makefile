# enishi — see README.md. Every target does its own set-up.
.PHONY: test run build bench fuzz loadtest clean

GO ?= go

# The whole suite: installs PostgreSQL/Chromium if missing, starts a
# throw-away PostgreSQL, runs every test on both stores.
test:
	./scripts/test.sh

# The product with demo data on the embedded store.
run:
	$(GO) run ./cmd/enishi serve --demo

build:
	$(GO) build -o enishi ./cmd/enishi

# Benchmarks: each prints the baseline, enishi, and the ratio.
bench:
	./scripts/bench.sh

# Fuzz every target for FUZZTIME each (default 30s); seeds run in `make test`.
fuzz:
	./scripts/fuzz.sh

# Bounded load test on loopback: concurrent event ingestion, API reads and
# writes, and imports for LOADTEST_DURATION (default 2m); prints throughput,
# p99 latency, errors and the exactly-once check.
loadtest:
	$(GO) run ./bench/loadtest -duration $${LOADTEST_DURATION:-2m}

clean:
	rm -f enishi enishi.db* enishi-demo.db*
