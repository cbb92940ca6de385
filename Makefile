# Front door: every target installs what it needs (Debian packages), configures, builds.
#   make test                 build (warnings are errors) and run every test
#   make demo                 build and run the demo on the simulated cluster
#   make cross ARCH=aarch64   cross-build for aarch64|armhf|x86_64 and run unit tests under qemu
#   make sanitize             build with ASan+UBSan and run every test
#   make bench                CPU per handshake: our probe vs the mbedTLS floor vs OpenSSL
#   make bench-footprint      one agent's RSS, CPU and wake-ups with a 20-node peer table
#   make bench-latency        identity change to diagnosis, default intervals (RUNS=5)
#   make bench-recovery       scheduling overhead per recovery step (RUNS=5 incident replays)
#   make bench-coord          kma-coord under thousands of simulated agents (COORD_BENCH=
#                             "-t SECONDS -r RATE AGENTSxNODES ...", see bench/bench_coord.c)
#   make fuzz                 libFuzzer on every parser of untrusted bytes (FUZZ_SECONDS each)
#   make valgrind             the agent's probe loop under memcheck (VALGRIND_SECONDS)
#   make stress               the flood tests with STRESS_CONNS (4000) hostile connections
#   make install DESTDIR=/tmp/root [PREFIX=/usr] [KMA_BOARD=generic-x86_64]
#                             build in build-install (configured for PREFIX) and install
#                             programs, configs, units, boards, man pages, state dirs
#   make package ARCH=aarch64 .debs for aarch64|armhf|x86_64 in dist/: kma-agent (the
#                             appliance) and kma-coord (coordinator, kmactl), cross-built
#   make package-test ARCH=.. install them into a clean Debian root of ARCH and run them
#   make docs                 regenerate docs/causes.md from common/vocab.def (a test checks it)
#   make oracle SEEDS=30      the randomized fault oracle: per seed (SEED_FROM.. on) a real
#                             cluster with random faults, its diagnosis checked against
#                             them (tests/e2e/oracle.py; ORACLE_FLAGS=--report exits 0)
#   make build | clean

BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ARCH     ?= aarch64
N        ?= 200
RUNS     ?= 5
STRESS_CONNS ?= 4000
PREFIX   ?= /usr/local
DESTDIR  ?=
KMA_BOARD ?=
INSTALL_BUILD ?= build-install
SEEDS    ?= 30
SEED_FROM ?= 1
ORACLE_FLAGS ?=

.PHONY: all build test oracle demo cross sanitize stress bench bench-build bench-coord bench-recovery bench-latency bench-footprint fuzz valgrind clean deps install package package-test docs

all: build

deps:
	@scripts/deps.sh test

$(BUILD)/CMakeCache.txt:
	@scripts/deps.sh test
	cmake -S . -B $(BUILD) -DKMA_WERROR=ON $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# Long (up to a minute or so per seed), so not part of make test.
oracle: deps build
	@scripts/deps.sh oracle
	KMA_BUILD_DIR=$(abspath $(BUILD)) KMA_SOURCE_DIR=$(CURDIR) python3 tests/e2e/oracle.py \
		--from $(SEED_FROM) --count $(SEEDS) $(ORACLE_FLAGS)

demo: deps build
	scripts/demo.sh $(BUILD)

cross:
	@scripts/deps.sh cross
	scripts/cross.sh $(ARCH)

sanitize:
	@scripts/deps.sh sanitize
	cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
		-DKMA_SANITIZE=ON -DKMA_WERROR=ON $(CMAKE_FLAGS)
	cmake --build build-sanitize -j$(JOBS)
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j$(JOBS)

bench-build:
	@scripts/deps.sh bench
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DKMA_BUILD_BENCH=ON \
		-DKMA_BUILD_TESTS=OFF -DKMA_WERROR=ON $(CMAKE_FLAGS)
	cmake --build build-bench -j$(JOBS)

bench: bench-build
	build-bench/bench/bench_handshake tests/data $(N)

bench-footprint: bench-build
	bench/agent_footprint.sh build-bench 21 60

bench-latency: bench-build
	bench/detection_latency.sh build-bench $(RUNS)

bench-recovery: bench-build
	bench/recovery_overhead.sh build-bench $(RUNS)

bench-coord: bench-build
	build-bench/bench/bench_coord build-bench/coordinator/kma-coord $(COORD_BENCH)

fuzz:
	scripts/fuzz.sh

# Thousands of hostile connections against an agent's listener and against kma-coord.
stress: deps build
	cd $(BUILD) && KMA_FLOOD_IDLE=$(STRESS_CONNS) KMA_FLOOD_N=$(STRESS_CONNS) \
		KMA_FLOOD_MAXC=8192 KMA_FLOOD_PERIP=512 ctest -R flood -V

valgrind: deps build
	@scripts/deps.sh valgrind
	scripts/valgrind-mesh.sh $(BUILD)

# Its own build tree: the programs' default paths (configuration, state, boards) are
# compiled in from PREFIX, so they must be configured for the prefix they are installed to.
install:
	@scripts/deps.sh build
	cmake -S . -B $(INSTALL_BUILD) -DCMAKE_BUILD_TYPE=Release -DKMA_BUILD_TESTS=OFF \
		-DKMA_WERROR=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
		-DKMA_BOARD=$(if $(KMA_BOARD),$(KMA_BOARD),sim) $(CMAKE_FLAGS)
	cmake --build $(INSTALL_BUILD) -j$(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(INSTALL_BUILD) --strip

docs: deps build
	cmake --build $(BUILD) --target docs

package:
	@scripts/deps.sh package
	KMA_BOARD=$(KMA_BOARD) scripts/package.sh $(ARCH)

# Slow (a Debian root from scratch), so not part of make test.
package-test: package
	tests/pkg/test_package.sh $(ARCH)

clean:
	rm -rf $(BUILD) build-sanitize build-bench build-fuzz build-cross-* $(INSTALL_BUILD) build-pkg-* dist
