#!/bin/sh
# demo.sh: install what is missing, build, make a demo database, and run the agent on it,
# serving http://127.0.0.1:10150/metrics until Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
install_missing $RUNTIME_PKGS

cmake -S . -B build -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

demo=${DEMO_DIR:-/tmp/sqlite-agent-demo}
mkdir -p "$demo"
if [ ! -f "$demo/app.db" ]; then
    sqlite3 "$demo/app.db" >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT, total REAL);
CREATE INDEX orders_customer ON orders(customer);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO orders(customer, total) SELECT 'customer ' || (i % 97), i * 1.5 FROM n;
SQL
    sqlite3 "$demo/jobs.db" "CREATE TABLE jobs(id INTEGER PRIMARY KEY, name TEXT);
                             INSERT INTO jobs(name) VALUES ('nightly'), ('hourly');"
fi
cat > "$demo/sqlite-agent.ini" <<INI
[agent]
listen = 127.0.0.1:10150
sample_interval = 5s
check_interval = 1m

[database:app]
path = $demo/app.db
check = quick

[database:jobs]
path = $demo/jobs.db
check = integrity
INI
echo "serving http://127.0.0.1:10150/metrics (config: $demo/sqlite-agent.ini); Ctrl-C stops" >&2
exec build/sqlite-agent --config "$demo/sqlite-agent.ini"
