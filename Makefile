# Front door: every target installs what it needs (Debian packages), configures, builds.
#   make test                 build (warnings are errors) and run every test
#   make demo                 build and run the demo on the simulated cluster
#   make cross ARCH=aarch64   cross-build for aarch64|armhf|x86_64 and run unit tests under qemu
#   make sanitize             build with ASan+UBSan and run every test
#   make bench                CPU per handshake: our probe vs the mbedTLS floor vs OpenSSL
#   make test-curl-gnutls     the coordinator link's tests on libcurl's GnuTLS backend
#   make bench-footprint      one agent's RSS (where it goes), CPU and wake-ups with a 20-node
#                             peer table: image profile (CURL=image, linked statically)
#                             beside the same shared and Debian's
#   make bench-latency        identity change to diagnosis, default intervals (RUNS=5)
#   make bench-recovery       scheduling overhead per recovery step (RUNS=5 incident replays)
#   make bench-coord          kma-coord under thousands of simulated agents (COORD_BENCH=
#                             "-t SECONDS -r RATE AGENTSxNODES ...", see bench/bench_coord.c)
#   make bench-coord-etcd     the same on the etcd store (3 members on loopback) beside
#                             SQLite, in one run, with their ratios (docs/ha.md)
#   make fuzz                 libFuzzer on every parser of untrusted bytes (FUZZ_SECONDS each)
#   make valgrind             the agent's probe loop under memcheck (VALGRIND_SECONDS)
#   make stress               the flood tests with STRESS_CONNS (4000) hostile connections
#   make install DESTDIR=/tmp/root [PREFIX=/usr] [KMA_BOARD=generic-x86_64]
#                             build in build-install (configured for PREFIX) and install
#                             programs, configs, units, boards, man pages, state dirs
#   make package ARCH=aarch64 .debs for aarch64|armhf|x86_64 in dist/: kma-agent (the
#                             appliance) and kma-coord (coordinator, kmactl), cross-built
#   make package-test ARCH=.. install them into a clean Debian root of ARCH and run them
#   make image-test           boot the .debs under a real systemd (systemd-nspawn, Debian 12
#                             root cached in ~/.cache/kma-agent/image): both units on x86_64,
#                             the agent on arm64 under qemu-user (IMAGE_ARCHS)
#   make docs                 regenerate docs/causes.md from common/vocab.def (a test checks it)
#   make oracle SEEDS=30      the randomized fault oracle: per seed (SEED_FROM.. on) a real
#                             cluster with random faults, its diagnosis checked against
#                             them (tests/e2e/oracle.py; ORACLE_FLAGS=--report exits 0)
#   make build | clean
#
# The dependency matrix: MBEDTLS=2.28|3.6, CURL=debian|image and SQLITE=debian|image choose
# the libraries every target above that uses BUILD (build, test, demo, oracle, stress,
# valgrind, docs) builds against; the default (2.28, debian, debian) is Debian 12's packages
# in BUILD=build. Another combination builds in its own directory
# (build-mbedtls3.6-curlimage, build-mbedtls3.6-curlimage-sqliteimage, ...) against
# prefixes that scripts/extdeps.sh builds from Debian's source packages, cached outside the
# tree (docs/dependencies.md):
#   MBEDTLS=3.6     Mbed TLS 3.6 LTS (Debian 13's source, upstream default configuration)
#   CURL=image      libcurl 7.88.1 (Debian 12's source) as images build it: Mbed TLS backend
#                   (the MBEDTLS chosen), HTTP/HTTPS only
#   SQLITE=image    SQLite 3.40.1 (Debian 12's source) as Yocto builds it: no preupdate
#                   hook, so kma-coord has the SQLite store only (no etcd store, docs/ha.md)
#   e.g. make test MBEDTLS=3.6 CURL=image SQLITE=image
# With MBEDTLS=3.6 the default build is made too: e2e_test_mixed_cluster runs its agents
# beside one built on 2.28 (KMA_PEER_BUILD_DIR).

MBEDTLS  ?= 2.28
CURL     ?= debian
SQLITE   ?= debian
ifeq ($(filter 2.28 3.6,$(MBEDTLS)),)
$(error MBEDTLS=$(MBEDTLS): 2.28 (Debian 12) or 3.6)
endif
ifeq ($(filter debian image,$(CURL)),)
$(error CURL=$(CURL): debian (Debian 12's libcurl4-openssl) or image)
endif
ifeq ($(filter debian image,$(SQLITE)),)
$(error SQLITE=$(SQLITE): debian (Debian 12's libsqlite3) or image)
endif
ifeq ($(MBEDTLS)-$(CURL)-$(SQLITE),2.28-debian-debian)
BUILD    ?= build
else ifeq ($(SQLITE),debian)
BUILD    ?= build-mbedtls$(MBEDTLS)-curl$(CURL)
EXTDEPS  := 1
else
BUILD    ?= build-mbedtls$(MBEDTLS)-curl$(CURL)-sqlite$(SQLITE)
EXTDEPS  := 1
endif
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
IMAGE_ARCHS ?= x86_64 aarch64
# More ctest arguments for make test, e.g. CTEST_FLAGS='-R probe' (CI's subset of a
# non-default combination, .ci/run)
CTEST_FLAGS ?=

.PHONY: test-curl-gnutls all build test oracle demo cross sanitize stress bench bench-build bench-coord bench-coord-etcd bench-recovery bench-latency bench-footprint fuzz valgrind clean deps install package package-test image-test docs

all: build

deps:
	@scripts/deps.sh test

ifndef EXTDEPS
$(BUILD)/CMakeCache.txt:
	@scripts/deps.sh test
	cmake -S . -B $(BUILD) -DKMA_WERROR=ON $(CMAKE_FLAGS)
else
# Asks scripts/extdeps.sh every time (quick once cached): a new Debian revision is a new
# prefix, and the build directory is configured again for it.
.PHONY: $(BUILD)/CMakeCache.txt
$(BUILD)/CMakeCache.txt:
	@scripts/deps.sh test
	@set -e; mb=""; cu=""; peer=""; \
	if [ $(MBEDTLS) != 2.28 ]; then mb="$$(scripts/extdeps.sh mbedtls-$(MBEDTLS))"; \
		$(MAKE) --no-print-directory build BUILD=build MBEDTLS=2.28 CURL=debian SQLITE=debian; \
		peer="$(CURDIR)/build"; fi; \
	if [ $(CURL) != debian ]; then cu="$$(scripts/extdeps.sh curl-$(CURL) $(MBEDTLS))"; fi; \
	sq=""; if [ $(SQLITE) != debian ]; then sq="$$(scripts/extdeps.sh sqlite-$(SQLITE))"; fi; \
	want="$$mb|$$cu|$$sq|$$peer|$(CMAKE_FLAGS)"; \
	if [ ! -f $@ ] || [ "$$(cat $(BUILD)/extdeps.used 2>/dev/null)" != "$$want" ]; then \
		echo "cmake -S . -B $(BUILD) KMA_MBEDTLS_PREFIX=$$mb KMA_CURL_PREFIX=$$cu KMA_SQLITE_PREFIX=$$sq"; \
		cmake -S . -B $(BUILD) -DKMA_WERROR=ON -DKMA_MBEDTLS_PREFIX="$$mb" \
			-DKMA_CURL_PREFIX="$$cu" -DKMA_SQLITE_PREFIX="$$sq" \
			-DKMA_PEER_BUILD_DIR="$$peer" $(CMAKE_FLAGS); \
		echo "$$want" >$(BUILD)/extdeps.used; \
	fi
endif

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) $(CTEST_FLAGS)

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

# The agent's and kmactl's libcurl use on libcurl's GnuTLS backend (Debian's libcurl3-gnutls;
# its -dev package conflicts with libcurl4-openssl-dev, the headers are the same), linked
# through KMA_CURL_LIBRARY (docs/dependencies.md).
CURL_GNUTLS ?= /usr/lib/$(shell gcc -print-multiarch 2>/dev/null)/libcurl-gnutls.so.4
test-curl-gnutls: deps
	@[ -f $(CURL_GNUTLS) ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends libcurl3-gnutls >/dev/null; } || \
		{ echo "install libcurl3-gnutls (as root: apt-get install libcurl3-gnutls)" >&2; exit 69; }
	cmake -S . -B build-curlgnutls -DKMA_WERROR=ON -DKMA_CURL_LIBRARY=$(CURL_GNUTLS) $(CMAKE_FLAGS)
	cmake --build build-curlgnutls -j$(JOBS)
	cd build-curlgnutls && KMA_EXPECT_CURL_TLS=GnuTLS ctest --output-on-failure -j$(JOBS) \
		-R 'curl_backend|test_reporter|e2e_test_enroll|e2e_test_coord$$|e2e_test_directives|e2e_test_kmactl|e2e_test_cluster$$'

# The image profile (an image's libcurl on Mbed TLS: CURL=image's, on the MBEDTLS chosen,
# linked statically with libevent_core, json-c, protobuf-c and inih, as an appliance image
# links them) measured in one run beside the same libraries shared (image-shared, the
# profile before the static link) and the Debian profile (Debian's libcurl on OpenSSL).
FOOTPRINT_WINDOW ?= 60
bench-footprint: bench-build
	@set -e; mb=""; cu="$$(scripts/extdeps.sh curl-image $(MBEDTLS))"; \
	if [ $(MBEDTLS) != 2.28 ]; then mb="$$(scripts/extdeps.sh mbedtls-$(MBEDTLS))"; fi; \
	for b in image:ON image-shared:OFF; do \
		cmake -S . -B build-bench-$${b%:*} -DCMAKE_BUILD_TYPE=Release -DKMA_BUILD_TESTS=OFF \
			-DKMA_WERROR=ON -DKMA_MBEDTLS_PREFIX="$$mb" -DKMA_CURL_PREFIX="$$cu" \
			-DKMA_STATIC_SMALL_LIBS=$${b#*:} -DKMA_STATIC_CURL=$${b#*:} \
			-DKMA_STATIC_MBEDTLS=$${b#*:} $(CMAKE_FLAGS); \
		cmake --build build-bench-$${b%:*} -j$(JOBS) --target kma-agent kma-coord kmactl; \
	done; \
	FOOTPRINT_LABEL=image FOOTPRINT_AGENTS="image-shared=$(CURDIR)/build-bench-image-shared/agent/kma-agent \
		debian=$(CURDIR)/build-bench/agent/kma-agent $(FOOTPRINT_AGENTS)" \
		bench/agent_footprint.sh build-bench-image 21 $(FOOTPRINT_WINDOW)

bench-latency: bench-build
	bench/detection_latency.sh build-bench $(RUNS)

bench-recovery: bench-build
	bench/recovery_overhead.sh build-bench $(RUNS)

bench-coord: bench-build
	build-bench/bench/bench_coord build-bench/coordinator/kma-coord $(COORD_BENCH)

bench-coord-etcd: bench-build
	@scripts/deps.sh test
	bench/coord_etcd.sh build-bench $(COORD_BENCH)

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

# Slow (a Debian root, cached, and a boot per architecture), so not part of make test.
image-test:
	@scripts/deps.sh image
	@for a in $(IMAGE_ARCHS); do \
		KMA_BOARD=$(KMA_BOARD) scripts/package.sh $$a || exit 1; \
	done
	@rc=0; for a in $(IMAGE_ARCHS); do tests/pkg/test_image.sh $$a || rc=1; done; exit $$rc

clean:
	rm -rf $(BUILD) build-mbedtls* build-sanitize build-bench build-bench-image build-curlgnutls build-fuzz build-cross-* $(INSTALL_BUILD) build-pkg-* build-image-* dist
