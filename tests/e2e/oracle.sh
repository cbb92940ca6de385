#!/bin/sh
# ctest's e2e_oracle: the randomized fault oracle (oracle.py) on the seeds CMake passes
# (KMA_ORACLE_SEEDS). Registered only with -DKMA_ORACLE_CTEST=ON (tests/CMakeLists.txt);
# not named test_*.sh, which every build registers. `make oracle SEEDS=N` runs any seeds.
: "${KMA_BUILD_DIR:?run through ctest (KMA_BUILD_DIR unset)}"
: "${KMA_SOURCE_DIR:?run through ctest (KMA_SOURCE_DIR unset)}"
command -v faketime >/dev/null ||
	{ echo "FAIL: the fault oracle needs faketime: scripts/deps.sh oracle" >&2; exit 1; }
exec python3 "$KMA_SOURCE_DIR/tests/e2e/oracle.py" "$@"
