#!/bin/sh
# Rewrites tests/unit/golden/metrics.prom from the renderer, on purpose.
#
#   tests/unit/golden/update-golden.sh BUILD_DIR/test_metrics
#
# The test binary was built with -DGOLDEN_DIR pointing here; with UPDATE_GOLDEN=1 its golden
# test writes the file instead of comparing (and reports itself skipped). Then the whole suite
# runs again against the new file, promtool lints it when installed, and git shows the change
# for review. Commit the golden file together with the renderer change that caused it.
set -eu

bin=${1:?usage: $0 PATH/TO/test_metrics}
here=$(cd "$(dirname "$0")" && pwd)

UPDATE_GOLDEN=1 "$bin" --filter 'metrics/golden'
"$bin"
if [ -x /usr/bin/promtool ]; then
    /usr/bin/promtool check metrics < "$here/metrics.prom"
fi
git -C "$here" diff --stat -- metrics.prom || true
