#!/bin/sh
# test.sh: install what is missing, build, and run every test: Criterion unit tests, the
# Prometheus rule tests, and the integration suite against the real binary; then all of it
# again on an ASan+UBSan build.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
install_missing $RUNTIME_PKGS $TEST_PKGS

jobs=$(nproc)
run_suite() {
    dir=$1
    shift
    echo "=== $dir: build" >&2
    cmake -S . -B "$dir" -DWERROR=ON -DBUILD_TESTING=ON "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    echo "=== $dir: unit tests" >&2
    # Criterion reports a test passed even when LeakSanitizer found a leak in it: fail on the
    # report itself.
    ctest --test-dir "$dir" --output-on-failure -V >"$dir/unit.log" 2>&1 ||
        { cat "$dir/unit.log"; exit 1; }
    grep -E "Synthesis|tests passed" "$dir/unit.log" >&2
    if grep -q "LeakSanitizer\|runtime error:" "$dir/unit.log"; then
        grep -B2 -A20 "LeakSanitizer\|runtime error:" "$dir/unit.log"
        exit 1
    fi
    echo "=== $dir: integration tests" >&2
    SQLITE_AGENT_BIN="$PWD/$dir/sqlite-agent" \
        /usr/bin/python3 -m unittest discover -s tests/integration -t tests/integration
}

echo "=== alert rules" >&2
tests/rules/run.sh

run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
scripts/package-test.sh # the Debian package: build, lintian, install, unit checks, remove, purge
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=address,undefined
echo "=== all tests passed" >&2
