"""TLS and basic auth with the exporter-toolkit web config file, end to end with real parts.

Certificates are made with openssl in the test (a CA, server certificates for 127.0.0.1, a
client certificate, a client certificate from another CA); bcrypt hashes with Python's crypt
(libxcrypt, the library the agent verifies them with). A real Prometheus scrapes the agent
through TLS and basic auth; a real Alertmanager 0.25 behind its own --web.config.file (TLS,
client certificates, basic auth) receives the agent's alerts. `promtool check web-config`
confirms every web config the tests give the agent is valid exporter-toolkit format.

Binaries: env PROMETHEUS, ALERTMANAGER, PROMTOOL (defaults under /usr/bin), SQLITE_AGENT_BIN.
"""

import http.client
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import warnings

import fixtures as F
import harness as H
from test_dashboard import Process, http_ok

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # Debian 12's Python 3.11 still has it; it is libxcrypt's crypt(3)

PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
ALERTMANAGER = os.environ.get("ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

USER, PASSWORD = "prometheus", "s3cret: with spaces"


def bcrypt(password, cost=10):
    salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** cost)
    return crypt.crypt(password, salt)


def openssl(*args, cwd):
    r = subprocess.run([OPENSSL] + list(args), cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr))


class PKI:
    """A CA and certificates signed by it, in dir: NAME.crt and NAME.key for each."""

    def __init__(self, dir):
        self.dir = dir
        for ca in ("ca", "otherca"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
                    "-subj", "/CN=sqlite-agent test " + ca, cwd=dir)
        with open(os.path.join(dir, "server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        with open(os.path.join(dir, "client.ext"), "w") as f:
            f.write("extendedKeyUsage=clientAuth\n")
        self.issue("server", "server.ext")
        self.issue("server2", "server.ext")  # the rotated one
        self.issue("client", "client.ext")
        self.issue("stranger", "client.ext", ca="otherca")

    def issue(self, name, ext, ca="ca"):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=self.dir)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", ext,
                cwd=self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)


def promtool_web_config(path):
    r = subprocess.run([H.PROMTOOL, "check", "web-config", path], capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class TLSAgent(H.Agent):
    """An agent whose HTTP goes through TLS (trusting ca) with basic auth as given."""

    def __init__(self, databases, web_config, ca, auth=(USER, PASSWORD), client=None, **kw):
        self.ca, self.auth, self.client = ca, auth, client
        self.web_config = web_config
        super().__init__(databases, {"web_config_file": web_config}, **kw)

    def context(self, client=None):
        ctx = ssl.create_default_context(cafile=self.ca)
        client = client if client is not None else self.client
        if client:
            ctx.load_cert_chain(client[0], client[1])
        return ctx

    def get(self, path, method="GET", headers=None, timeout=10, auth=None, client=None):
        auth = auth if auth is not None else self.auth
        hdrs = dict(headers or {})
        if auth:
            token = base64.b64encode(("%s:%s" % auth).encode()).decode()
            hdrs["Authorization"] = "Basic " + token
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.context(client))
        try:
            conn.request(method, path, headers=hdrs)
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def peer_cert(self):
        """The DER certificate the agent serves now."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            with self.context().wrap_socket(s, server_hostname="127.0.0.1") as t:
                return t.getpeercert(binary_form=True)


def der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class PromTLS(Process):
    """Prometheus scraping one target over https with basic auth, every second."""

    name = "prometheus"

    def __init__(self, target, ca, user, password):
        super().__init__()
        pw = os.path.join(self.dir, "password")
        write(pw, password + "\n")
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        write(self.config_path, "\n".join([
            "global:", "  scrape_interval: 1s", "  scrape_timeout: 1s",
            "scrape_configs:",
            "  - job_name: sqlite-agent",
            "    scheme: https",
            "    tls_config:",
            "      ca_file: %s" % json.dumps(ca),
            "    basic_auth:",
            "      username: %s" % json.dumps(user),
            "      password_file: %s" % json.dumps(pw),
            "    static_configs:",
            "      - targets: [%s]" % json.dumps(target),
        ]) + "\n")

    def command(self):
        return [PROMETHEUS, "--config.file=%s" % self.config_path,
                "--web.listen-address=127.0.0.1:%d" % self.port,
                "--storage.tsdb.path=%s" % os.path.join(self.dir, "data"), "--log.level=warn"]

    def up(self):
        from test_dashboard import http_json
        status, body = http_json(self.url + "/api/v1/query", {"query": 'up{job="sqlite-agent"}'})
        r = body.get("data", {}).get("result", []) if status == 200 else []
        return r[0]["value"][1] if r else None


class TLSTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sqlite-agent-tls-")
        cls.pki = PKI(cls.dir)
        cls.db = F.make_healthy(cls.dir, "app.db")
        cls.hash = bcrypt(PASSWORD)

    @classmethod
    def tearDownClass(cls):
        if not H.KEEP_TMP:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def web_config(self, name, tls=None, users=True, headers=None):
        """Writes a web config into the test dir; checks it with promtool first."""
        lines = ["tls_server_config:",
                 "  cert_file: %s" % self.pki.path("server.crt"),
                 "  key_file: %s" % self.pki.path("server.key")]
        lines += ["  %s" % l for l in (tls or [])]
        if headers:
            lines += ["http_server_config:", "  headers:"]
            lines += ["    %s: %s" % kv for kv in headers.items()]
        if users:
            lines += ["basic_auth_users:", "  %s: %s" % (USER, self.hash)]
        path = os.path.join(self.dir, name)
        write(path, "\n".join(lines) + "\n")
        ok, out = promtool_web_config(path)
        self.assertTrue(ok, "promtool check web-config %s: %s" % (path, out))
        return path

    def dbs(self):
        return [{"name": "app", "path": self.db, "check": "quick"}]

    # -- scraping -------------------------------------------------------------------------

    def test_prometheus_scrapes_through_tls_and_basic_auth(self):
        wc = self.web_config("web-prom.yml")
        with TLSAgent(self.dbs(), wc, self.pki.path("ca.crt")) as a, \
                PromTLS("127.0.0.1:%d" % a.port, self.pki.path("ca.crt"), USER, PASSWORD) as p:
            H.wait_for(lambda: p.up() == "1", 20, interval=0.2, what="up == 1 over TLS + auth")

    def test_wrong_or_missing_credentials_get_401_on_every_path(self):
        wc = self.web_config("web-401.yml", headers={"X-Frame-Options": "deny"})
        with TLSAgent(self.dbs(), wc, self.pki.path("ca.crt")) as a:
            for path in ("/metrics", "/healthz", "/", "/nonexistent"):
                for auth in (False, (USER, "wrong"), ("nobody", PASSWORD), (USER, PASSWORD[:-1])):
                    status, hdrs, _ = a.get(path, auth=auth)
                    self.assertEqual(status, 401, "%s with %r" % (path, auth))
                    self.assertEqual(hdrs.get("www-authenticate"), 'Basic realm="sqlite-agent"')
                    self.assertEqual(hdrs.get("x-frame-options"), "deny")
            status, hdrs, body = a.get("/metrics")
            self.assertEqual(status, 200)
            self.assertEqual(hdrs.get("x-frame-options"), "deny")
            self.assertTrue(H.promtool_check(body.decode())[0])
            # The exposition is rendered once per change, at most once a second (expo.h).
            H.wait_for(lambda: a.value("sqlite_agent_http_requests_denied_total",
                                       reason="basic_auth") == 16, 5, interval=0.2,
                       what="16 denied requests counted")
            s = H.parse_exposition(a.get("/metrics")[2].decode())
            self.assertEqual(H.value(s, "sqlite_agent_http_requests_denied_total",
                                     reason="client_certificate"), 0)

    def test_plain_http_on_the_tls_port_gets_nothing(self):
        wc = self.web_config("web-plain.yml")
        with TLSAgent(self.dbs(), wc, self.pki.path("ca.crt")) as a:
            with socket.create_connection(("127.0.0.1", a.port), timeout=5) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                data = b""
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except ConnectionResetError:
                    pass
            self.assertNotIn(b"HTTP/1.", data)
            self.assertNotIn(b"sqlite_", data)

    def test_mtls_refuses_a_client_without_a_certificate(self):
        wc = self.web_config("web-mtls.yml", users=False, tls=[
            "client_auth_type: RequireAndVerifyClientCert",
            "client_ca_file: %s" % self.pki.path("ca.crt")])
        client = (self.pki.path("client.crt"), self.pki.path("client.key"))
        with TLSAgent(self.dbs(), wc, self.pki.path("ca.crt"), auth=False, client=client) as a:
            self.assertEqual(a.get("/metrics")[0], 200)
            stranger = (self.pki.path("stranger.crt"), self.pki.path("stranger.key"))
            for who in (False, stranger):
                with self.assertRaises((http.client.RemoteDisconnected, ConnectionError,
                                        ssl.SSLError), msg="client %r" % (who,)):
                    a.get("/metrics", client=who)
            H.wait_for(lambda: a.value("sqlite_agent_http_requests_denied_total",
                                       reason="client_certificate") == 2, 5, interval=0.2,
                       what="2 refused client certificates counted")

    def test_the_documented_example_is_valid_toolkit_format_and_loads(self):
        d = tempfile.mkdtemp(dir=self.dir)
        shutil.copy(os.path.join(H.REPO, "docs", "web.yml.example"), os.path.join(d, "web.yml"))
        for src, dst in (("server.crt", "tls.crt"), ("server.key", "tls.key"),
                         ("ca.crt", "clients-ca.crt")):
            shutil.copy(self.pki.path(src), os.path.join(d, dst))
        ok, out = promtool_web_config(os.path.join(d, "web.yml"))
        self.assertTrue(ok, out)
        ini = os.path.join(d, "agent.ini")
        write(ini, H.config_text(self.dbs(), {"web_config_file": os.path.join(d, "web.yml")}))
        r = H.run_agent("-c", ini, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("web.yml: ok, TLS, 1 user", r.stdout)

    def test_verify_client_cert_if_given(self):
        wc = self.web_config("web-ifgiven.yml", users=False, tls=[
            "client_auth_type: VerifyClientCertIfGiven",
            "client_ca_file: %s" % self.pki.path("ca.crt")])
        with TLSAgent(self.dbs(), wc, self.pki.path("ca.crt"), auth=False) as a:
            self.assertEqual(a.get("/metrics")[0], 200)  # none given
            good = (self.pki.path("client.crt"), self.pki.path("client.key"))
            self.assertEqual(a.get("/metrics", client=good)[0], 200)
            stranger = (self.pki.path("stranger.crt"), self.pki.path("stranger.key"))
            with self.assertRaises((http.client.RemoteDisconnected, ConnectionError,
                                    ssl.SSLError)):
                a.get("/metrics", client=stranger)

    def test_versions_and_cipher_suites_reach_gnutls(self):
        def handshake(port, version=None, ciphers=None):
            ctx = ssl.create_default_context(cafile=self.pki.path("ca.crt"))
            if version:
                ctx.minimum_version = ctx.maximum_version = version
            if ciphers:
                ctx.set_ciphers(ciphers)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                    return t.version(), t.cipher()[0]

        wc = self.web_config("web-tls13.yml", users=False, tls=["min_version: TLS13"])
        with TLSAgent(self.dbs(), wc, self.pki.path("ca.crt"), auth=False) as a:
            self.assertEqual(handshake(a.port)[0], "TLSv1.3")
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                handshake(a.port, ssl.TLSVersion.TLSv1_2)
        wc = self.web_config("web-ciphers.yml", users=False, tls=[
            "max_version: TLS12",
            "cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]"])
        with TLSAgent(self.dbs(), wc, self.pki.path("ca.crt"), auth=False) as a:
            self.assertEqual(handshake(a.port), ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"))
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                handshake(a.port, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                handshake(a.port, ssl.TLSVersion.TLSv1_3)

    # -- refusals -------------------------------------------------------------------------

    def test_every_bad_web_config_is_refused_with_the_file_named(self):
        good = ["tls_server_config:", "  cert_file: %s" % self.pki.path("server.crt"),
                "  key_file: %s" % self.pki.path("server.key")]
        cases = [
            ("missing file", None, "No such file or directory"),
            ("bad YAML", ["tls_server_config: [a,"], "invalid YAML"),
            ("unknown key", good + ["  cert: x"], 'tls_server_config: unknown key "cert"'),
            ("missing certificate file",
             ["tls_server_config:", "  cert_file: %s" % os.path.join(self.dir, "none.crt"),
              "  key_file: %s" % self.pki.path("server.key")],
             "tls_server_config.cert_file: cannot open"),
            ("unreadable key: a directory",
             ["tls_server_config:", "  cert_file: %s" % self.pki.path("server.crt"),
              "  key_file: %s" % self.dir], "tls_server_config.key_file: "),
            ("key of another certificate",
             ["tls_server_config:", "  cert_file: %s" % self.pki.path("server.crt"),
              "  key_file: %s" % self.pki.path("client.key")],
             "tls_server_config.key_file: "),
            ("a password, not a bcrypt hash", good + ["basic_auth_users:", "  prom: hunter2"],
             "basic_auth_users.prom: not a bcrypt hash"),
            ("CA file that is not PEM",
             good + ["  client_auth_type: RequireAndVerifyClientCert",
                     "  client_ca_file: %s" % self.pki.path("server.ext")],
             "tls_server_config.client_ca_file: "),
        ]
        for name, lines, want in cases:
            with self.subTest(name):
                wc = os.path.join(self.dir, "bad.yml")
                if lines is None:
                    wc = os.path.join(self.dir, "no-such-web.yml")
                else:
                    write(wc, "\n".join(lines) + "\n")
                ini = os.path.join(self.dir, "bad.ini")
                # web_config_file must exist for the INI key itself; a missing one is the
                # INI's own error, named by the INI file and the key.
                write(ini, H.config_text(self.dbs(), {"web_config_file": wc}))
                r = H.run_agent("-c", ini, "--check-config")
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(wc, r.stderr)
                self.assertIn(want, r.stderr)
                if lines is None:
                    self.assertIn("web_config_file", r.stderr)
                r = H.run_agent("-c", ini, timeout=10)  # the daemon does not start either
                self.assertEqual(r.returncode, 2, r.stderr)

    # -- reload ---------------------------------------------------------------------------

    def test_sighup_rotates_the_certificate_and_keeps_it_when_the_new_one_is_bad(self):
        cert, key = os.path.join(self.dir, "live.crt"), os.path.join(self.dir, "live.key")
        shutil.copy(self.pki.path("server.crt"), cert)
        shutil.copy(self.pki.path("server.key"), key)
        wc = os.path.join(self.dir, "web-rotate.yml")
        write(wc, "tls_server_config:\n  cert_file: live.crt\n  key_file: live.key\n"
                  "basic_auth_users:\n  %s: %s\n" % (USER, self.hash))
        with TLSAgent(self.dbs(), wc, self.pki.path("ca.crt")) as a:
            self.assertEqual(a.peer_cert(), der(self.pki.path("server.crt")))
            shutil.copy(self.pki.path("server2.crt"), cert)
            shutil.copy(self.pki.path("server2.key"), key)
            a.reload()
            H.wait_for(lambda: a.peer_cert() == der(self.pki.path("server2.crt")), 10,
                       what="the rotated certificate served")
            self.assertEqual(a.get("/metrics")[0], 200)
            # A bad one (key of another certificate) is refused; the running one stays.
            shutil.copy(self.pki.path("client.key"), key)
            a.reload()
            H.wait_for(lambda: "config reload failed" in a.stderr(), 10, what="reload refused")
            self.assertIn(wc, a.stderr())
            self.assertEqual(a.peer_cert(), der(self.pki.path("server2.crt")))
            H.wait_for(lambda: a.value("sqlite_agent_config_last_reload_successful") == 0, 5,
                       interval=0.2, what="the failed reload rendered")
            s = a.scrape()
            self.assertEqual(H.value(s, "sqlite_agent_config_last_reload_successful"), 0)
            self.assertEqual(H.value(s, "sqlite_agent_config_reloads_total", result="success"), 1)
            a.stop()  # exit 0: under ASan, also no leak from the swapped servers

    # -- Alertmanager ---------------------------------------------------------------------

    def test_alerts_reach_alertmanager_through_tls_with_client_cert_and_basic_auth(self):
        am_user, am_pass = "agent", "am-pass"
        am_web = os.path.join(self.dir, "am-web.yml")
        write(am_web, "\n".join([
            "tls_server_config:",
            "  cert_file: %s" % self.pki.path("server.crt"),
            "  key_file: %s" % self.pki.path("server.key"),
            "  client_auth_type: RequireAndVerifyClientCert",
            "  client_ca_file: %s" % self.pki.path("ca.crt"),
            "basic_auth_users:",
            "  %s: %s" % (am_user, bcrypt(am_pass)),
        ]) + "\n")
        ok, out = promtool_web_config(am_web)
        self.assertTrue(ok, out)
        pw = os.path.join(self.dir, "am-password")
        write(pw, am_pass + "\n")
        bad_pw = os.path.join(self.dir, "am-bad-password")
        write(bad_pw, "nope\n")
        missing = os.path.join(self.dir, "gone.db")  # never created: SQLiteDatabaseDown fires
        with AlertmanagerTLS(am_web, self.pki) as am:
            def agent_text(password_file):
                return (H.config_text([{"name": "gone", "path": missing, "check": "off"}],
                                      {"listen": "127.0.0.1:%d" % port, "sample_interval": "200ms"})
                        + "\n[alertmanager]\nurls = https://127.0.0.1:%d\nresend_interval = 1s\n"
                          "ca_file = %s\ncert_file = %s\nkey_file = %s\n"
                          "basic_auth_username = %s\nbasic_auth_password_file = %s\n"
                        % (am.port, self.pki.path("ca.crt"), self.pki.path("client.crt"),
                           self.pki.path("client.key"), am_user, password_file))
            a = H.Agent(text="")
            port = a.port
            a._write_config(None, None, agent_text(pw))
            with a:
                a.wait_value("sqlite_agent_alertmanager_posts_total", {"result": "success"},
                             lambda v: v is not None and v >= 1, 20)
                alerts = H.wait_for(lambda: [x for x in am.alerts()
                                             if x["labels"].get("alertname") == "SQLiteDatabaseDown"],
                                    10, what="SQLiteDatabaseDown in Alertmanager")
                self.assertEqual(alerts[0]["labels"].get("db"), "gone")
                # Negative control: the wrong password gets nowhere.
                a.reload(text=agent_text(bad_pw))
                a.wait_value("sqlite_agent_alertmanager_posts_total", {"result": "failure"},
                             lambda v: v is not None and v >= 1, 20)
                self.assertIn("401", a.stderr())
                a.stop()

    def test_alerts_carry_a_bearer_token_read_again_for_each_post(self):
        token_file = os.path.join(self.dir, "am-token")
        write(token_file, "first-token\n")
        rx = BearerReceiver(self.pki, "first-token")
        try:
            a = H.Agent(text="")
            a._write_config(None, None, H.config_text(
                [{"name": "gone", "path": os.path.join(self.dir, "gone.db"), "check": "off"}],
                {"listen": "127.0.0.1:%d" % a.port, "sample_interval": "200ms"})
                + "\n[alertmanager]\nurls = https://127.0.0.1:%d\nresend_interval = 1s\n"
                  "ca_file = %s\nbearer_token_file = %s\n"
                % (rx.port, self.pki.path("ca.crt"), token_file))
            with a:
                a.wait_value("sqlite_agent_alertmanager_posts_total", {"result": "success"},
                             lambda v: v is not None and v >= 1, 20)
                self.assertIn("Bearer first-token", rx.headers)
                # Rotated in place, no reload: the next post carries the new token.
                rx.token = "second-token"
                write(token_file, "second-token\n")
                H.wait_for(lambda: "Bearer second-token" in rx.headers, 10,
                           what="the rotated token")
        finally:
            rx.close()


class BearerReceiver:
    """An HTTPS endpoint on loopback standing in for an Alertmanager behind a proxy that wants a
    bearer token (Alertmanager 0.25's own web config has no bearer auth): answers 200 to the
    token it is given, 401 to anything else, and keeps every Authorization header."""

    def __init__(self, pki, token):
        import http.server
        import threading
        self.token, self.headers = token, []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got = self.headers.get("Authorization")
                receiver.headers.append(got)
                self.send_response(200 if got == "Bearer " + receiver.token else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.path("server.crt"), pki.path("server.key"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class AlertmanagerTLS(Process):
    name = "alertmanager"

    def __init__(self, web_config, pki):
        super().__init__()
        self.web_config, self.pki = web_config, pki
        self.config_path = os.path.join(self.dir, "alertmanager.yml")
        write(self.config_path, "route:\n  receiver: none\nreceivers:\n  - name: none\n")

    def command(self):
        return [ALERTMANAGER, "--config.file=%s" % self.config_path,
                "--web.config.file=%s" % self.web_config,
                "--storage.path=%s" % os.path.join(self.dir, "data"),
                "--web.listen-address=127.0.0.1:%d" % self.port,
                "--cluster.listen-address=", "--log.level=warn"]

    def context(self):
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.crt"))
        ctx.load_cert_chain(self.pki.path("client.crt"), self.pki.path("client.key"))
        return ctx

    def _start(self):
        # Process._start polls plain http; this one speaks TLS: poll with the client cert.
        cmd = self.command()
        if not os.access(cmd[0], os.X_OK):
            raise unittest.SkipTest("alertmanager not installed: %s" % cmd[0])
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.dir)
        import test_dashboard
        test_dashboard._live.add(self)
        H.wait_for(lambda: self.proc.poll() is None and self.ready(), 30, interval=0.1,
                   what="alertmanager ready over TLS")

    def ready(self):
        try:
            return self.request("/-/ready")[0] == 200
        except OSError:
            return False

    def request(self, path):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=5,
                                           context=self.context())
        try:
            token = base64.b64encode(b"agent:am-pass").decode()
            conn.request("GET", path, headers={"Authorization": "Basic " + token})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def alerts(self):
        status, body = self.request("/api/v2/alerts")
        return json.loads(body) if status == 200 else []


if __name__ == "__main__":
    unittest.main()
