# Lumi — the two commands (see README.md):
#   make run    install what is missing, build, migrate, serve on 127.0.0.1:8080 (SQLite)
#   make test   install what is missing (PostgreSQL too), build normally and with
#               ASan+UBSan, run every test under CTest in both builds
# Also: make build, make fuzz (libFuzzer, clang), make bench, make format, make clean,
#       make crash (power-loss crash points), make soak (long mixed load).

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_QUIET = -DCMAKE_BUILD_TYPE=RelWithDebInfo -Wno-dev >/dev/null
FUZZ_SECONDS ?= 60

.PHONY: run build test test-build fuzz bench scale format clean crash soak

run: build
	@scripts/first-run.sh
	@./build/lumi migrate
	@exec ./build/lumi serve

build:
	@scripts/setup.sh
	@cmake -S . -B build -DLUMI_TESTS=OFF $(CMAKE_QUIET)
	@cmake --build build -j $(JOBS) -- --no-print-directory >/dev/null

test-build:
	@scripts/setup.sh --test
	@cmake -S . -B build-test -DLUMI_TESTS=ON $(CMAKE_QUIET)
	@cmake --build build-test -j $(JOBS) -- --no-print-directory >/dev/null
	@cmake -S . -B build-asan -DLUMI_TESTS=ON -DLUMI_SANITIZE=ON $(CMAKE_QUIET)
	@cmake --build build-asan -j $(JOBS) -- --no-print-directory >/dev/null

# Both suites always run; the exit status is non-zero if either failed, and
# the output ends with CTest's summary line of the sanitizer build.
test: test-build
	@echo "== tests: normal build"; \
	 (cd build-test && ctest -j $(JOBS) --output-on-failure); rc1=$$?; \
	 echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer build"; \
	 (cd build-asan && ctest -j $(JOBS) --output-on-failure); rc2=$$?; \
	 test $$rc1 -eq 0 -a $$rc2 -eq 0

fuzz:
	@scripts/setup.sh --test
	@CC=clang cmake -S . -B build-fuzz -DLUMI_FUZZ=ON -DLUMI_TESTS=OFF $(CMAKE_QUIET)
	@cmake --build build-fuzz -j $(JOBS) -- --no-print-directory >/dev/null
	@for t in build-fuzz/fuzz/fuzz_*; do \
	   name=$$(basename $$t); mkdir -p build-fuzz/corpus/$$name; \
	   echo "== $$name ($(FUZZ_SECONDS) s)"; \
	   $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	       build-fuzz/corpus/$$name fuzz/corpus/$$name || exit 1; \
	 done

# Benchmarks use the test fakes, so they build with the tests (no sanitizers).
bench:
	@scripts/setup.sh --test
	@cmake -S . -B build-test -DLUMI_TESTS=ON $(CMAKE_QUIET)
	@cmake --build build-test -j $(JOBS) -- --no-print-directory >/dev/null
	@for b in build-test/bench/bench_*; do \
	   case $$b in */bench_soak|*/bench_scale) continue;; esac; \
	   echo "== $$b"; $$b || exit 1; \
	 done

# make scale: bench_scale (SCALE x 1M invoices, 5M audit rows... on both engines;
# long at BENCH_SCALE=1). Not part of make bench, like make soak.
BENCH_SCALE ?= 1
scale:
	@scripts/setup.sh --test
	@cmake -S . -B build-test -DLUMI_TESTS=ON $(CMAKE_QUIET)
	@cmake --build build-test -j $(JOBS) --target lumi bench_scale -- --no-print-directory >/dev/null
	@BENCH_DB=both BENCH_SCALE=$(BENCH_SCALE) build-test/bench/bench_scale

# ---- fault testing (issue 17): power loss and soak ----------------------------
# make crash: CRASH_POINTS simulated power cuts per workload (webhooks through
# lumi serve, the job queue, migrations from empty; make test runs 25 of each).
# make soak: SOAK_MINUTES of mixed load on lumi serve with faulty fake panels,
# RSS/FDs/errors each minute, PASS/FAIL at the end (bench/bench_soak.c).
CRASH_POINTS ?= 1000
SOAK_MINUTES ?= 20

crash:
	@scripts/setup.sh --test
	@cmake -S . -B build-test -DLUMI_TESTS=ON $(CMAKE_QUIET)
	@cmake --build build-test -j $(JOBS) --target test_powerloss -- --no-print-directory >/dev/null
	@CRASH_POINTS=$(CRASH_POINTS) build-test/tests/test_powerloss

soak:
	@scripts/setup.sh --test
	@cmake -S . -B build-test -DLUMI_TESTS=ON $(CMAKE_QUIET)
	@cmake --build build-test -j $(JOBS) --target lumi bench_soak -- --no-print-directory >/dev/null
	@SOAK_MINUTES=$(SOAK_MINUTES) build-test/bench/bench_soak
# ---- end of fault testing ------------------------------------------------------

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-test build-asan build-fuzz
