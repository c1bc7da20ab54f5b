# Makefile -- a thin wrapper around CMake for the two commands a newcomer needs.
#
#   make run    install what is missing, build only portlab, and start it with its
#               defaults (the URL and a first-start password are the last lines)
#   make test   install what is missing, build, run every suite, then all again
#               under AddressSanitizer + UndefinedBehaviorSanitizer
#
# Not part of make test:
#   make test-tsan  the suites that run the loop, the HTTP lab and the resolver
#                   threads together, under ThreadSanitizer
#   make fuzz       libFuzzer on every target, FUZZ_SECONDS each
#   make soak       kill -9 cycles and 1,000 sessions (tests/soak/soak.py)
#   make bench      every relay benchmark beside websockify (bench/run.py, minutes;
#                   Release build in build-release; writes the table into bench/RESULTS.md)
#   make test-image build the container image with podman and check it (minutes;
#                   opt-in; leaves localhost/portlab:latest)
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
ARGS ?=

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
TSAN_BUILD ?= build-tsan
# Under ThreadSanitizer everything runs 5-15 times slower: the two suites
# that push megabytes to the transcript cap would only time out.
TSAN_TESTS ?= ^(unit|conformance|integration)\.
TSAN_SKIP ?= ^integration\.test_(limits|relay_bounds)$$
SOAK_ARGS ?=
BENCH_BUILD ?= build-release
BENCH_ARGS ?= --write

.PHONY: all build run test test-fast test-asan test-tsan test-image fuzz soak format-check bootstrap \
	bootstrap-test bootstrap-image bootstrap-bench bench clean

all: build

bootstrap:
	@scripts/bootstrap.sh

bootstrap-test:
	@scripts/bootstrap.sh --test

bootstrap-image:
	@scripts/bootstrap.sh --image

bootstrap-bench:
	@scripts/bootstrap.sh --bench

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

# ThreadSanitizer: every report is written to $(TSAN_BUILD)/tsan-reports
# (also those of a portlab a test killed), and any report fails the target.
test-tsan: bootstrap-test
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTLAB_WERROR=ON -DPORTLAB_TSAN=ON >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS)
	@rm -rf $(TSAN_BUILD)/tsan-reports && mkdir -p $(TSAN_BUILD)/tsan-reports
	cd $(TSAN_BUILD) && TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 log_path=$(CURDIR)/$(TSAN_BUILD)/tsan-reports/report" \
	  ctest -R '$(TSAN_TESTS)' -E '$(TSAN_SKIP)' --output-on-failure -j$(JOBS)
	@if [ -n "$$(ls $(TSAN_BUILD)/tsan-reports)" ]; then cat $(TSAN_BUILD)/tsan-reports/*; \
	  echo "ThreadSanitizer reported the above"; exit 1; fi
	@echo "ThreadSanitizer: no reports"

# libFuzzer on every target (tests/fuzz/fuzz_*.c), FUZZ_SECONDS each,
# starting from the seed corpora (which every test build replays anyway).
fuzz: bootstrap-test
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPORTLAB_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The soak test: 20 kill -9 cycles with 100 typing sessions, then 1,000
# sessions for 60 s (tests/soak/soak.py; it stops by itself).
soak: build bootstrap-test
	PORTLAB_BIN=$(CURDIR)/$(BUILD)/portlab /usr/bin/python3 tests/soak/soak.py $(SOAK_ARGS)

# Benchmarks: never part of make test. A Release build (with symbols, for
# perf), then bench/run.py: portlab, websockify and a plain poll() relay on
# one core, the load client on the other (bench/README.md).
bench: bootstrap-bench
	@cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g >/dev/null
	@cmake --build $(BENCH_BUILD) -j$(JOBS) --target portlab wsload recbench
	@./$(BENCH_BUILD)/recbench 1000000 8 500 $(BENCH_BUILD)
	/usr/bin/python3 bench/run.py --build $(BENCH_BUILD) $(BENCH_ARGS)
	/usr/bin/python3 bench/labbench.py --build $(BENCH_BUILD) $(filter --write,$(BENCH_ARGS))
	/usr/bin/python3 bench/idlebench.py --build $(BENCH_BUILD) $(filter --write,$(BENCH_ARGS))
	/usr/bin/python3 bench/steadybench.py --build $(BENCH_BUILD) $(filter --write,$(BENCH_ARGS))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD) $(BENCH_BUILD)
