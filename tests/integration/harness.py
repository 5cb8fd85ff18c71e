"""Shared harness for the sqlite-agent integration tests (Python 3 stdlib only).

The API, all of it:

    REPO, BIN, PROMTOOL           repo root; paths from env SQLITE_AGENT_BIN / PROMTOOL
    KEEP_TMP                      env SQLITE_AGENT_KEEP_TMP=1: temp dirs are kept
    FAST_CHECK, FAST_CHECK_SECONDS  the shortest check_interval the agent accepts ("1s", 1.0)
    free_port() -> int            a TCP port on 127.0.0.1 that was free a moment ago
    config_text(databases, agent=None) -> str
                                  an INI config; databases: [{"name", "path", "check", ...}]
                                  (any extra key goes under the [database:NAME] section as is);
                                  agent: {key: value} for [agent]
    run_agent(*args, timeout=60) -> subprocess.CompletedProcess (text, stdout/stderr captured)
    parse_exposition(text) -> {(name, frozenset(labels.items())): float}
    select(samples, name, **labels) -> {frozenset(labels.items()): float} whose labels include
                                  the given ones
    value(samples, name, **labels) -> float or None (None if absent; error if ambiguous)
    wait_for(predicate, timeout, interval=0.05, what="") -> predicate's first truthy result,
                                  else AssertionError naming what and the last result
    promtool_check(text) -> (ok: bool, output: str)   `promtool check metrics` on text

    with Agent(databases, agent=None, text=None, user=None) as a:   (or a.start() ... a.close())
        agent: [agent] keys over the defaults: listen on a free port, sample_interval 200ms,
        check_interval FAST_CHECK, check_timeout 30s, check_workers 2, log_level info;
        text: the whole config file instead, used as is (its listen must match a.port)
        a.port, a.url, a.dir, a.config_path, a.stderr_path, a.proc
        a.started_at              time.monotonic() just before the process was started
        a.scrape() -> samples     GET /metrics parsed (a.scrape_text() for the raw text)
        a.value(name, **labels) -> float or None, from a fresh scrape
        a.wait_value(name, labels, pred, timeout) -> samples once pred(value) (value may be None)
        a.get(path, method="GET", headers=None) -> (status, {lower-case header: value}, body)
        a.stderr() -> str         everything the agent logged so far
        a.reload(databases=None, agent=None, text=None)   rewrite the config, send SIGHUP
        a.stop(timeout=5.0, expect=0, sig=SIGTERM) -> seconds it took
                                  signal, wait, check the exit code (kill on timeout)

Agent writes its config into a fresh temp dir (a.dir), starts the binary with stdout/stderr
to files there, and waits (bounded) for /healthz; on failure the message carries the agent's
stderr. Leaving the with-block always kills a still-running agent and removes a.dir, also when
the test failed (then the agent's stderr tail is printed to our stderr). Set
SQLITE_AGENT_KEEP_TMP=1 to keep the temp dirs for a post-mortem.

user="nobody" runs the agent through `setpriv --reuid=nobody --regid=nogroup --clear-groups`
(root only); a.dir and its files are then made readable for that user.
"""

import atexit
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SQLITE_AGENT_BIN", os.path.join(REPO, "build", "sqlite-agent"))
PROMTOOL = os.environ.get("PROMTOOL", "promtool")
KEEP_TMP = os.environ.get("SQLITE_AGENT_KEEP_TMP") == "1"

STARTUP_TIMEOUT = 10.0
# The shortest check_interval the agent accepts (agent/config.c CHECK_BOUNDS): tests that want
# checks "as often as possible" use this, so a change of that bound is a one-line change here.
FAST_CHECK = "1s"
FAST_CHECK_SECONDS = 1.0

_live = set()  # agents started and not yet closed, killed at exit whatever happens


def _kill_live():
    for a in list(_live):
        a.close()


atexit.register(_kill_live)


def free_port():
    """A port the kernel just handed out on 127.0.0.1 (a race is possible, but rare: the
    kernel does not reuse an ephemeral port right away)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(databases, agent=None):
    lines = ["[agent]"]
    for k, v in (agent or {}).items():
        lines.append("%s = %s" % (k, v))
    for db in databases:
        lines.append("")
        lines.append("[database:%s]" % db["name"])
        for k, v in db.items():
            if k != "name":
                lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n"


def run_agent(*args, timeout=60, cwd=None):
    """Runs the binary to completion (for --version, --check-config, --once...)."""
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


# ---------------------------------------------------------------------------------------------
# Exposition format 0.0.4 parser

def _parse_labels(s, i, line):
    """Parses `name="value",...}` starting at s[i]; returns (dict, index after '}')."""
    labels = {}
    while True:
        while s[i] in " \t":
            i += 1
        if s[i] == "}":
            return labels, i + 1
        eq = s.index("=", i)
        name = s[i:eq].strip()
        i = eq + 1
        if s[i] != '"':
            raise ValueError("label value not quoted: %r" % line)
        i += 1
        out = []
        while s[i] != '"':
            c = s[i]
            if c == "\\":
                nxt = s[i + 1]
                if nxt == "n":
                    out.append("\n")
                elif nxt in '\\"':
                    out.append(nxt)
                else:
                    raise ValueError("bad escape \\%s in %r" % (nxt, line))
                i += 2
            else:
                out.append(c)
                i += 1
        if name in labels:
            raise ValueError("duplicate label %s in %r" % (name, line))
        labels[name] = "".join(out)
        i += 1
        while s[i] in " \t":
            i += 1
        if s[i] == ",":
            i += 1
        elif s[i] != "}":
            raise ValueError("expected , or } in %r" % line)


def _parse_float(s):
    low = s.lower()
    if low in ("+inf", "inf"):
        return float("inf")
    if low == "-inf":
        return float("-inf")
    if low == "nan":
        return float("nan")
    return float(s)


def parse_exposition(text):
    """{(metric name, frozenset of (label, value))): value}. Raises ValueError on a malformed
    line or on a duplicate series."""
    samples = {}
    for line in text.split("\n"):
        if not line.strip() or line.startswith("#"):
            continue
        i = 0
        while i < len(line) and line[i] not in "{ \t":
            i += 1
        name = line[:i]
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i + 1, line)
        rest = line[i:].split()
        if not name or len(rest) not in (1, 2):
            raise ValueError("malformed sample line: %r" % line)
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ValueError("duplicate series: %r" % line)
        samples[key] = _parse_float(rest[0])
    return samples


def select(samples, name, **labels):
    want = set(labels.items())
    return {lab: v for (n, lab), v in samples.items() if n == name and want <= lab}


def value(samples, name, **labels):
    found = select(samples, name, **labels)
    if len(found) > 1:
        raise AssertionError("%s%r matches %d series: %r" % (name, labels, len(found), found))
    return next(iter(found.values())) if found else None


def wait_for(predicate, timeout, interval=0.05, what=""):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, what or predicate, last))
        time.sleep(interval)


def promtool_check(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


# ---------------------------------------------------------------------------------------------
# A running agent

class Agent:
    def __init__(self, databases=(), agent=None, text=None, user=None,
                 startup_timeout=STARTUP_TIMEOUT):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.user = user
        self.startup_timeout = startup_timeout
        self.dir = tempfile.mkdtemp(prefix="sqlite-agent-it-")
        self.config_path = os.path.join(self.dir, "agent.ini")
        self.stderr_path = os.path.join(self.dir, "agent.stderr")
        self.stdout_path = os.path.join(self.dir, "agent.stdout")
        self.proc = None
        self._closed = False
        self._write_config(databases, agent, text)

    # -- config ---------------------------------------------------------------------------

    def _agent_defaults(self, agent):
        opts = {"listen": "127.0.0.1:%d" % self.port, "sample_interval": "200ms",
                "check_interval": FAST_CHECK, "check_timeout": "30s", "check_workers": "2",
                "log_level": "info"}
        opts.update(agent or {})
        return opts

    def _write_config(self, databases, agent, text):
        if text is None:
            text = config_text(databases, self._agent_defaults(agent))
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.config_path)

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and os.path.exists(self.stderr_path):
            sys.stderr.write("\n--- agent stderr (%s) ---\n%s\n---\n"
                             % (self.config_path, self.stderr()[-4000:]))
        self.close()
        return False

    def start(self):
        cmd = [BIN, "-c", self.config_path]
        if self.user is not None:
            os.chmod(self.dir, 0o755)
            cmd = ["setpriv", "--reuid=%s" % self.user, "--regid=nogroup", "--clear-groups",
                   "--"] + cmd
        if not os.access(BIN, os.X_OK):
            raise AssertionError("agent binary not found or not executable: %s "
                                 "(build it, or set SQLITE_AGENT_BIN)" % BIN)
        self.started_at = time.monotonic()
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _live.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("agent exited with %d before /healthz answered; stderr:\n%s"
                                     % (self.proc.returncode, self.stderr()))
            try:
                status, _, body = self.get("/healthz", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise AssertionError("agent did not answer /healthz within %.0fs; stderr:\n%s"
                                     % (self.startup_timeout, self.stderr()))
            time.sleep(0.02)

    def stop(self, timeout=5.0, expect=0, sig=signal.SIGTERM):
        """SIGTERM (or sig), then wait up to timeout. Returns the seconds it took; asserts the
        exit code is expect (None: any)."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("agent still running %.1fs after signal %d; stderr:\n%s"
                                 % (timeout, sig, self.stderr()[-4000:]))
        took = time.monotonic() - t0
        if expect is not None and rc != expect:
            raise AssertionError("agent exited with %d after signal %d, expected %d; stderr:\n%s"
                                 % (rc, sig, expect, self.stderr()[-4000:]))
        return took

    def close(self):
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not KEEP_TMP:
            shutil.rmtree(self.dir, ignore_errors=True)

    def reload(self, databases=None, agent=None, text=None):
        """Rewrites the config (atomically) and sends SIGHUP."""
        if text is not None or databases is not None:
            self._write_config(databases or (), agent, text)
        self.proc.send_signal(signal.SIGHUP)

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # -- HTTP -----------------------------------------------------------------------------

    def get(self, path, method="GET", headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def scrape_text(self):
        status, _, body = self.get("/metrics")
        if status != 200:
            raise AssertionError("GET /metrics: %d %r" % (status, body[:200]))
        return body.decode("utf-8")

    def scrape(self):
        return parse_exposition(self.scrape_text())

    def value(self, name, **labels):
        return value(self.scrape(), name, **labels)

    def wait_value(self, name, labels, pred, timeout):
        box = {}

        def probe():
            s = self.scrape()
            v = value(s, name, **labels)
            box["v"] = v
            return s if pred(v) else None

        try:
            return wait_for(probe, timeout, what="%s%r" % (name, labels))
        except AssertionError as e:
            raise AssertionError("%s; last value %r; agent stderr tail:\n%s"
                                 % (e, box.get("v"), self.stderr()[-2000:])) from None
