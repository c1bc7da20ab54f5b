# Makefile -- a thin wrapper around CMake for the two commands a newcomer needs.
#
#   make run    install what is missing, build only portlab, and start it with its
#               defaults (the URL and a first-start password are the last lines)
#   make test   install what is missing, build, run every suite, then all again
#               under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-image  build the container image with podman and check it (minutes;
#               opt-in; leaves localhost/portlab:latest)
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
ARGS ?=

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all build run test test-fast test-asan test-image fuzz format-check bootstrap bootstrap-test \
	bootstrap-image clean

all: build

bootstrap:
	@scripts/bootstrap.sh

bootstrap-test:
	@scripts/bootstrap.sh --test

bootstrap-image:
	@scripts/bootstrap.sh --image

build: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTLAB_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Only the binary: no test programs, no e2e npm packages.
run: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTLAB_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target portlab
	@./$(BUILD)/portlab $(ARGS)

format-check: bootstrap-test
	@scripts/check-format.sh && echo "clang-format: every C file is formatted"

test-fast: bootstrap-test format-check build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: bootstrap-test
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPORTLAB_WERROR=ON -DPORTLAB_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=16 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j$(JOBS)

test: test-fast test-asan

# The container image, built with podman from a local Debian 12 base and
# checked by running its binary in the mounted image (docs/classroom.md).
test-image: bootstrap-image
	@scripts/test-image.sh

# libFuzzer on every line protocol, FUZZ_SECONDS each, starting from the seed
# corpora (which every test build replays anyway).
fuzz: bootstrap-test
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPORTLAB_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@for t in $(FUZZ_BUILD)/fuzz_*; do \
	  name=$${t##*/fuzz_}; work=$$(mktemp -d); \
	  echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$work tests/fuzz/corpus/$$name \
	    2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY" || exit 1; \
	  rm -rf $$work; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
