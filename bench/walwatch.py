#!/usr/bin/python3
"""walwatch.py: what the close watch (issue 12) costs, measured on the real binary.

  bench/walwatch.py idle [N] [INTERVAL] [SECONDS]
      N idle WAL databases (held open by one process, so their -shm stays), all with
      watch = close, walindex_watch_interval INTERVAL (default 2ms). Prints the agent's CPU
      (user+sys from /proc/PID/stat) over SECONDS, the same with walindex_watch_max = 0 (the
      rest of the agent), the same with watch = normal (nothing exposed, so nothing watched),
      and the difference per watched database.

  bench/walwatch.py audit [SECONDS]
      One database written by a process at full speed (BEGIN IMMEDIATE, 4 KiB pages, a PASSIVE
      checkpoint every 50 commits) for SECONDS, agent watching with watch = close, then the
      same workload with walindex_watch_max = 0. Prints the WAL bytes written (from the -shm's
      mxFrame before each checkpoint), the agent's CPU in both runs, and the difference per MB
      of WAL written: the audit's cost, frames read once and claimed pages compared.

Each line starts with the command that made it. The machine is shared: run twice, take the
lower figure, and say the load average (printed).
"""
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.environ.get("SQLITE_AGENT_BIN", os.path.join(ROOT, "build", "sqlite-agent"))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def start_agent(d, paths, interval, watch_max, watch="close"):
    port = free_port()
    cfg = os.path.join(d, "agent-%d.ini" % watch_max)
    with open(cfg, "w") as f:
        f.write("[agent]\nlisten = 127.0.0.1:%d\nlog_level = warn\nsample_interval = 15s\n"
                "walindex_watch_interval = %s\nwalindex_watch_max = %d\n"
                % (port, interval, watch_max))
        for i, p in enumerate(paths):
            f.write("\n[database:db%d]\npath = %s\ncheck = off\nwatch = %s\n" % (i, p, watch))
    proc = subprocess.Popen([AGENT, "-c", cfg], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "agent.log"), "ab"))
    proc.port = port
    time.sleep(1.5)  # started, watch selected
    return proc


def scrape(port, name):
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read()
    return sum(float(l.split()[-1]) for l in text.decode().splitlines()
               if l.startswith(name + "{"))


def measure(proc, seconds):
    c0, t0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(proc.pid), time.monotonic()
    return (c1 - c0) / (t1 - t0)


def stop(proc):
    proc.terminate()
    proc.wait(10)


def idle(n, interval, seconds):
    d = tempfile.mkdtemp(prefix="bench-walwatch-")
    paths = [os.path.join(d, "db%d.sqlite3" % i) for i in range(n)]
    cons = []
    for p in paths:
        c = sqlite3.connect(p, isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA wal_autocheckpoint=0")
        c.execute("CREATE TABLE t(x)")
        c.execute("INSERT INTO t VALUES (randomblob(3000))")
        cons.append(c)
    res = {}
    for watch_max in (n, 0):
        proc = start_agent(d, paths, interval, watch_max)
        res[watch_max] = measure(proc, seconds)
        stop(proc)
    proc = start_agent(d, paths, interval, n, watch="normal")
    normal = measure(proc, seconds)
    stop(proc)
    for c in cons:
        c.close()
    shutil.rmtree(d, ignore_errors=True)
    diff = res[n] - res[0]
    print("+ bench/walwatch.py idle %d %s %d  (load %s)"
          % (n, interval, seconds, open("/proc/loadavg").read().split()[0]))
    print("agent CPU with watch = normal on the same databases (not exposed: one connection "
          "each): %.3f%%" % (100 * normal))
    print("agent CPU: %.3f%% watching %d databases, %.3f%% with walindex_watch_max = 0; "
          "close watch %.4f%% of a core per database (%.1f us per database per tick)"
          % (100 * res[n], n, 100 * res[0], 100 * diff / n,
             1e6 * diff / n * float(interval.rstrip("ms")) / 1000))


WRITER = r"""
import os, sqlite3, struct, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
con = sqlite3.connect(path, isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)")
con.execute("CREATE INDEX IF NOT EXISTS tv ON t(v)")
fd = None
frames = 0
last = (None, 0)
deadline = time.monotonic() + seconds
n = 0
while time.monotonic() < deadline:
    con.execute("BEGIN IMMEDIATE")
    for i in range(20):
        con.execute("INSERT OR REPLACE INTO t VALUES (?, randomblob(400))", ((n * 20 + i) % 50000,))
    con.execute("COMMIT")
    n += 1
    if n % 50 == 0:
        if fd is None:
            fd = os.open(path + "-shm", os.O_RDONLY)
        hdr = os.pread(fd, 48, 0)
        mx, salt = struct.unpack_from("=I", hdr, 16)[0], hdr[32:40]
        frames += mx if salt != last[0] else mx - last[1]
        last = (salt, mx)
        con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
con.close()
if fd is not None:
    os.close(fd)
print(frames, n // 50)
"""


def audit(seconds):
    res, mb = {}, {}
    for watch_max in (1, 0):
        d = tempfile.mkdtemp(prefix="bench-audit-")
        path = os.path.join(d, "load.sqlite3")
        c = sqlite3.connect(path)
        c.execute("PRAGMA page_size=4096")
        c.execute("PRAGMA journal_mode=WAL")
        c.close()
        proc = start_agent(d, [path], "2ms", watch_max)
        c0 = cpu_seconds(proc.pid)
        w = subprocess.run([sys.executable, "-c", WRITER, path, str(seconds)],
                           capture_output=True, text=True, check=True)
        res[watch_max] = cpu_seconds(proc.pid) - c0
        frames, ckpts = (int(x) for x in w.stdout.split())
        if watch_max:
            read = scrape(proc.port, "sqlite_wal_checkpoint_audit_frames_read_total")
            audits = scrape(proc.port, "sqlite_wal_checkpoint_audits_total")
            pages = scrape(proc.port, "sqlite_wal_checkpoint_audited_pages_total")
        mb[watch_max] = frames * (4096 + 24) / 1e6
        if watch_max:
            frames_watched, ckpts_watched = frames, ckpts
        stop(proc)
        shutil.rmtree(d, ignore_errors=True)
    print("+ bench/walwatch.py audit %d  (load %s)"
          % (seconds, open("/proc/loadavg").read().split()[0]))
    print("audit read %.0f of %d frames written (%.0f%%); %d audits of %d checkpoints, %d pages "
          "compared" % (read, frames_watched, 100 * read / frames_watched, audits, ckpts_watched,
                        pages))
    print("WAL written: %.0f MB watched, %.0f MB unwatched; agent CPU %.3f s watched, %.3f s "
          "with walindex_watch_max = 0; audit %.2f ms CPU per MB of WAL"
          % (mb[1], mb[0], res[1], res[0], 1000 * (res[1] - res[0]) / mb[1]))


def main():
    a = sys.argv[1:] or ["idle"]
    if a[0] == "idle":
        idle(int(a[1]) if len(a) > 1 else 8, a[2] if len(a) > 2 else "2ms",
             int(a[3]) if len(a) > 3 else 20)
    elif a[0] == "audit":
        audit(int(a[1]) if len(a) > 1 else 20)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
