# Lumi — the two commands (see README.md):
#   make run    install what is missing, build, migrate, serve on 127.0.0.1:8080 (SQLite)
#   make test   install what is missing (PostgreSQL too), build normally and with
#               ASan+UBSan, run every test under CTest in both builds
# Also: make build, make fuzz (libFuzzer, clang), make bench, make format, make clean.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_QUIET = -DCMAKE_BUILD_TYPE=RelWithDebInfo -Wno-dev >/dev/null
FUZZ_SECONDS ?= 60

.PHONY: run build test test-build fuzz bench format clean

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
	@for b in build-test/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-test build-asan build-fuzz
