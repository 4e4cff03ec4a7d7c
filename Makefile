# The two commands (README): `make demo` and `make test`. Both install what
# is missing first (scripts/install-deps.sh), so they work on a fresh Debian 12.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test unit asan e2e bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

demo: build
	./$(BUILD)/sluice demo --data-dir ./sluice-data

# Unit tests (optimised build), the same unit tests under ASan/UBSan, then the
# end-to-end tests with real SDKs against the real binary.
test: build unit asan e2e

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 120

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) --timeout 300

e2e: build
	SLUICE_BIN=$(CURDIR)/$(BUILD)/sluice node --test --test-concurrency=1 tests/e2e/

bench: build
	bash bench/ingest.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
