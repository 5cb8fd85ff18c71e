#!/usr/bin/python3
"""auth-latency.py [COUNT]: what basic auth costs a scrape, with the bcrypt cache.

Starts the agent (SQLITE_AGENT_BIN, default build/sqlite-agent) on 10 small databases, over
TLS (openssl-made certificates), twice: without users, then with one user whose bcrypt hash
has cost 10 (what `htpasswd -B` makes). Each time, COUNT (default 300) GET /metrics on one
keep-alive connection, as Prometheus scrapes, and COUNT with a new TLS connection each; prints
median and p99 in ms. Then COUNT/10 requests with a wrong password, each of which must pay
bcrypt: that is what every scrape would cost without the cache.

Prints the exact command and every figure; nothing is asserted (bench/, not tests/).
"""
import base64
import http.client
import math
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.environ.get("SQLITE_AGENT_BIN", os.path.join(ROOT, "build", "sqlite-agent"))
USER, PASSWORD = "prometheus", "correct horse battery staple"


def sh(*cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=bench-ca",
       cwd=d)
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "ext", cwd=d)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(times, p):
    t = sorted(times)
    return t[max(0, math.ceil(p / 100 * len(t)) - 1)]


class Run:
    def __init__(self, d, users):
        self.port = free_port()
        web = os.path.join(d, "web-%s.yml" % ("auth" if users else "noauth"))
        with open(web, "w") as f:
            f.write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
            if users:
                salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** 10)
                f.write("basic_auth_users:\n  %s: %s\n" % (USER, crypt.crypt(PASSWORD, salt)))
        ini = os.path.join(d, "agent-%d.ini" % self.port)
        with open(ini, "w") as f:
            f.write("[agent]\nlisten = 127.0.0.1:%d\nsample_interval = 1s\ncheck_interval = 1h\n"
                    "web_config_file = %s\n" % (self.port, web))
            for i in range(10):
                f.write("[database:db%d]\npath = %s\ncheck = off\n"
                        % (i, os.path.join(d, "db%d.sqlite3" % i)))
        self.cmd = [AGENT, "-c", ini]
        print("+ " + " ".join(self.cmd), file=sys.stderr)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
        self.auth = users
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.get(self.conn(), PASSWORD)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("agent did not start")
            time.sleep(0.05)

    def conn(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=self.ctx)

    def get(self, c, password):
        h = {}
        if self.auth:
            h["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % (USER, password)).encode()).decode()
        t0 = time.perf_counter()
        c.request("GET", "/metrics", headers=h)
        r = c.getresponse()
        r.read()
        return r.status, (time.perf_counter() - t0) * 1000

    def keepalive(self, n, password=PASSWORD):
        c, times = self.conn(), []
        for _ in range(n):
            status, ms = self.get(c, password)
            times.append(ms)
        c.close()
        return status, times

    def fresh(self, n):
        times = []
        for _ in range(n):
            c = self.conn()
            t0 = time.perf_counter()
            status, _ = self.get(c, PASSWORD)
            times.append((time.perf_counter() - t0) * 1000)
            c.close()
        return status, times

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    d = tempfile.mkdtemp(prefix="auth-latency-")
    try:
        make_certs(d)
        for i in range(10):
            c = sqlite3.connect(os.path.join(d, "db%d.sqlite3" % i))
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("CREATE TABLE t(x)")
            c.commit()
            c.close()
        print("+ %s %d" % (" ".join(sys.argv[:1]), count), file=sys.stderr)
        rows = []
        for users in (False, True):
            r = Run(d, users)
            try:
                _, ka = r.keepalive(count)
                _, fr = r.fresh(count)
                label = "TLS + basic auth (bcrypt cost 10, cached)" if users else "TLS, no auth"
                rows.append((label + ", keep-alive", ka))
                rows.append((label + ", new connection each", fr))
                if users:
                    status, wrong = r.keepalive(max(10, count // 10), "wrong")
                    assert status == 401, status
                    rows.append(("wrong password (pays bcrypt every time), keep-alive", wrong))
            finally:
                r.close()
        print("%-72s %8s %8s %6s" % ("GET /metrics, 10 databases", "p50 ms", "p99 ms", "n"))
        for label, t in rows:
            print("%-72s %8.2f %8.2f %6d" % (label, pct(t, 50), pct(t, 99), len(t)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
