#!/bin/sh
# Checks and unit-tests the Prometheus rules: tests/rules/run.sh
# PROMTOOL overrides the promtool binary (default: promtool on PATH). Exits non-zero on failure.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dash="$here/../../dashboards"
promtool=${PROMTOOL:-promtool}

"$promtool" check rules "$dash/sqlite-agent.rules.yml"
"$promtool" test rules "$dash/sqlite-agent.rules.test.yml"
