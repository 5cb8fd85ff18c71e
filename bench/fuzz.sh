#!/bin/sh
# fuzz.sh [SECONDS]: every libFuzzer target for SECONDS each (default 300), on the seed corpus
# scripts/fuzz.sh builds; the corpus grows in build-fuzz/corpus/ and is reused by the next run.
# Prints the executions and peak memory of each.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-300}
echo "+ scripts/fuzz.sh $seconds build-fuzz" >&2
exec scripts/fuzz.sh "$seconds" build-fuzz
