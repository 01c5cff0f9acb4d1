# Front end over CMake. `make test` (what `bash scripts/dev.sh test`, the
# README's test command, runs) installs the Debian packages it needs, builds and runs
# the suite normally and under ASan+UBSan, then runs the fuzzers briefly.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
SRC_DIRS := logstore ec common chunkserver master metalogger client tests bench
FORMAT_FILES = $(shell find $(SRC_DIRS) -name '*.[ch]' 2>/dev/null | sort)

.PHONY: all deps build asan test test-normal test-asan fuzz bench format format-check up down clean

all: build

deps:
	bash scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

test-normal: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600

test-asan: asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure --timeout 900

fuzz:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

test: deps
	$(MAKE) test-normal
	$(MAKE) test-asan
	$(MAKE) fuzz
	$(MAKE) format-check

bench: build
	bash bench/run.sh $(BUILD)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: ok"

up: deps build
	bash scripts/up.sh $(BUILD)

# Stop the local cluster of `make up`; PURGE=1 also deletes local/cluster.
down:
	bash scripts/down.sh $(BUILD) $(PURGE)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
