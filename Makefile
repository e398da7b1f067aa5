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

clean:
	rm -f enishi enishi.db* enishi-demo.db*
