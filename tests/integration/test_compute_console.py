"""The console proxy (src/compute/console.c): noVNC's files, the WebSocket
bridge to a VNC server, and its token checks.

Most tests need no VM: a kumo of their own (the console service on a free
port, [compute] console_verify_port = false since no agent runs), a fake VNC
server on 127.0.0.1 that sends the RFB banner and echoes what it gets, and
instance and token rows written straight into the kumo's SQLite compute.db.
The tests at the end use compute_env (a real VM): `nova get-vnc-console`
gives a URL whose WebSocket reaches QEMU's VNC server.
"""

import hashlib
import os
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from conftest import Kumo, _kumo_bin, free_port
import wsclient
from wsclient import WS, connect, frame, handshake_request, http_exchange

NOVNC = Path("/usr/share/novnc")
BANNER = b"RFB 003.008\n"


class ConsoleKumo(Kumo):
    """`kumo all` with the console proxy on a free port and no compute agent."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.command = "all"
        self.console_port = free_port()
        self.console_url = f"http://127.0.0.1:{self.console_port}"
        self.compute_conf = {"agent": "false", "console_verify_port": "false"}

    def write_config(self):
        super().write_config()
        text = self.conf.read_text()
        # (conftest writes these itself now; older ones did not)
        if "[console]" not in text:
            text += f"\n[console]\nport = {self.console_port}\n"
        if "[metadata]" not in text:
            text += f"\n[metadata]\nport = {free_port()}\n"
        self.conf.write_text(text)

    def start(self):
        super().start()
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                requests.get(self.console_url + "/vnc_lite.html", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the console proxy did not start:\n" + self.output())


@pytest.fixture(scope="module")
def ck():
    binary = _kumo_bin()
    if not binary.exists():
        pytest.skip(f"kumo binary not found at {binary} (set KUMO_BIN)")
    tmp = Path(tempfile.mkdtemp(prefix="kumo-console-"))
    k = ConsoleKumo(binary, tmp, free_port(), f"sqlite:///{tmp / 'identity.db'}")
    k.write_config()
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        yield k
    finally:
        k.stop()
        assert k.proc.returncode == 0, "kumo did not stop cleanly:\n" + k.output()
        if not os.environ.get("KUMO_TEST_KEEP"):
            subprocess.run(["rm", "-rf", str(tmp)])


class FakeVnc:
    """Sends the RFB banner, then echoes every byte back."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.accepted = 0
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        try:
            c.sendall(BANNER)
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.ls.close()


class MiniRfb(FakeVnc):
    """Just enough of an RFB 3.8 server for noVNC: no authentication, a
    320x200 picture of colour bands sent raw on every full update request."""

    W, H = 320, 200

    def _echo(self, c):
        import struct

        def need(n):
            d = b""
            while len(d) < n:
                x = c.recv(n - len(d))
                if not x:
                    raise EOFError
                d += x
            return d
        try:
            c.sendall(BANNER)
            need(12)
            c.sendall(b"\x01\x01")                       # one security type: None
            need(1)
            c.sendall(b"\x00\x00\x00\x00")               # SecurityResult OK
            need(1)                                       # ClientInit
            pf = struct.pack("!BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
            name = b"kumo-test"
            c.sendall(struct.pack("!HH", self.W, self.H) + pf + struct.pack("!I", len(name))
                      + name)
            pixels = b"".join(bytes(((x * 7) & 255, (y * 3) & 255, ((x ^ y) * 5) & 255, 0))
                              for y in range(self.H) for x in range(self.W))
            while True:
                t = need(1)[0]
                if t == 0:
                    need(19)                              # SetPixelFormat
                elif t == 2:
                    n = struct.unpack("!xH", need(3))[0]  # SetEncodings
                    need(4 * n)
                elif t == 3:
                    incremental = need(9)[0]
                    if not incremental:
                        c.sendall(struct.pack("!BxHHHHHi", 0, 1, 0, 0, self.W, self.H, 0)
                                  + pixels)
                elif t == 4:
                    need(7)
                elif t == 5:
                    need(5)
                elif t == 6:
                    n = struct.unpack("!3xI", need(7))[0]
                    need(n)
                else:
                    break
        except (OSError, EOFError):
            pass
        finally:
            c.close()


@pytest.fixture(scope="module")
def vnc():
    v = FakeVnc()
    yield v
    v.close()


def db(ck):
    c = sqlite3.connect(ck.dir / "compute.db", timeout=10)
    c.isolation_level = None
    return c


def add_instance(ck, vm_state="active", host="testhost", deleted=0, project=None):
    iid = str(uuid.uuid4())
    with db(ck) as c:
        c.execute("INSERT INTO cmp_instance (id, project_id, user_id, name, flavor_id, "
                  "vm_state, power_state, host, node, deleted) "
                  "VALUES (?, ?, 'u', 'console-test', '1', ?, 1, ?, ?, ?)",
                  (iid, project or uuid.uuid4().hex, vm_state, host, host, deleted))
    return iid


def add_token(ck, iid, port, host="127.0.0.1", ttl=600):
    token = os.urandom(32).hex()
    now = int(time.time() * 1e6)
    with db(ck) as c:
        c.execute("INSERT INTO cmp_console_token (token_hash, instance_id, console_type, host, "
                  "port, access_url, expires_at, created_at) VALUES (?, ?, 'novnc', ?, ?, '', "
                  "?, ?)", (hashlib.sha256(token.encode()).hexdigest(), iid, host, port,
                           now + int(ttl * 1e6), now))
    return token


@pytest.fixture
def token(ck, vnc):
    return add_token(ck, add_instance(ck), vnc.port)


def open_ws(ck, tok, **kw):
    status, headers, ws = connect(ck.console_port, tok, **kw)
    assert status == 101, (status, headers)
    return ws, headers


def alive(ck, vnc):
    """The proxy still bridges a fresh console."""
    ws, _ = open_ws(ck, add_token(ck, add_instance(ck), vnc.port))
    try:
        assert ws.recv_data(len(BANNER)) == BANNER
    finally:
        ws.close()
    return True


# ---------------------------------------------------------------------------
# noVNC's files

@pytest.mark.skipif(not NOVNC.is_dir(), reason="Debian's novnc is not installed")
class TestStatic:
    def test_vnc_auto_is_the_lite_page_and_sets_the_token_cookie(self, ck):
        tok = os.urandom(32).hex()
        r = requests.get(f"{ck.console_url}/vnc_auto.html?token={tok}", timeout=10)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/html")
        lite = NOVNC / "vnc_lite.html"
        assert r.content == lite.read_bytes()
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith(f"token={tok};")
        assert "HttpOnly" in cookie and "Path=/websockify" in cookie
        assert r.headers["Cache-Control"] == "no-store"

    def test_no_cookie_without_a_well_formed_token(self, ck):
        for q in ("", "?token=abc", "?token=" + "x" * 64, "?token=%0d%0aSet-Cookie:%20a=b"):
            r = requests.get(f"{ck.console_url}/vnc_auto.html{q}", timeout=10)
            assert r.status_code == 200
            assert "Set-Cookie" not in r.headers, q

    @pytest.mark.parametrize("path,ctype", [
        ("vnc.html", "text/html"),
        ("vnc_lite.html", "text/html"),
        ("core/rfb.js", "text/javascript"),
        ("core/decoders/raw.js", "text/javascript"),
        ("app/styles/base.css", "text/css"),
        ("app/images/icons/novnc-16x16.png", "image/png"),
        ("app/images/connect.svg", "image/svg+xml"),
        ("app/locale/fr.json", "application/json"),
    ])
    def test_files_and_types(self, ck, path, ctype):
        f = NOVNC / path
        if not f.exists():
            pytest.skip(f"{f} not in this novnc version")
        r = requests.get(f"{ck.console_url}/{path}", timeout=10)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith(ctype)
        assert r.content == f.read_bytes()
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        h = requests.head(f"{ck.console_url}/{path}", timeout=10)
        assert h.status_code == 200 and int(h.headers["Content-Length"]) == f.stat().st_size

    def test_root_redirects_to_the_ui(self, ck):
        r = requests.get(ck.console_url + "/", allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["Location"] == "/vnc.html"

    @pytest.mark.parametrize("raw", [
        "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/core/../../../etc/passwd",
        "/core/%2E%2E/%2E%2E/%2E%2E/etc/passwd", "/.%2e/etc/passwd", "//etc/passwd",
        "/core//rfb.js", "/%2fetc%2fpasswd", "/vnc.html%00.png", "/core/rfb.js%00",
        "/.git/config", "/core/.hidden", "/app/images/", "/core", "/nonexistent.html",
        "/vnc.html/", "/core/rfb.js/x", "/a%5c..%5c..%5cetc%5cpasswd",
    ])
    def test_no_traversal(self, ck, raw):
        req = f"GET {raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        status, _, s, rest = http_exchange(ck.console_port, req)
        body = rest
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                body += c
        finally:
            s.close()
        if "%00" in raw:                 # libmicrohttpd's decoding ends the path at NUL:
            assert status in (200, 404)  # what is left is a plain path under novnc_path
            return
        assert status in (404, 400), (raw, status)
        assert b"root:" not in body


# ---------------------------------------------------------------------------
# The bridge

class TestBridge:
    def test_banner_crosses_and_bytes_echo(self, ck, vnc, token):
        ws, headers = open_ws(ck, token)
        try:
            assert headers["upgrade"].lower() == "websocket"
            assert "upgrade" in headers["connection"].lower()
            assert "sec-websocket-protocol" not in headers
            assert ws.recv_data(len(BANNER)) == BANNER
            ws.send(BANNER)
            assert ws.recv_data(len(BANNER)) == BANNER
            blob = os.urandom(300_000)                 # several frames each way
            for i in range(0, len(blob), 100_000):
                ws.send(blob[i:i + 100_000])
            assert ws.recv_data(len(blob)) == blob
        finally:
            ws.close()

    def test_binary_subprotocol_and_early_data(self, ck, vnc, token):
        # the first frame arrives with the handshake, before the 101
        req, key = handshake_request(ck.console_port, token, protocols="binary, base64")
        status, headers, s, rest = http_exchange(ck.console_port, req + frame(2, b"early"))
        assert status == 101 and headers["sec-websocket-protocol"] == "binary"
        assert headers["sec-websocket-accept"] == wsclient.accept_for(key)
        ws = WS(s, rest)
        try:
            assert ws.recv_data(len(BANNER) + 5) == BANNER + b"early"
        finally:
            ws.close()

    def test_token_from_the_cookie(self, ck, vnc, token):
        ws, _ = open_ws(ck, None, cookie=f"other=1; token={token}; x=y")
        try:
            assert ws.recv_data(len(BANNER)) == BANNER
        finally:
            ws.close()

    def test_fragments_ping_and_close(self, ck, vnc, token):
        ws, _ = open_ws(ck, token)
        try:
            assert ws.recv_data(len(BANNER)) == BANNER
            ws.s.sendall(frame(2, b"frag-", fin=False) + frame(9, b"hello")
                         + frame(0, b"ment-", fin=False) + frame(0, b"ed", fin=True))
            op, fin, p = ws.recv_frame()
            assert (op, fin, p) == (10, True, b"hello")         # pong, same payload
            assert ws.recv_data(len(b"frag-ment-ed")) == b"frag-ment-ed"
            ws.s.sendall(frame(10, b"unsolicited pong"))        # ignored
            ws.s.sendall(frame(8, b"\x03\xe8bye"))
            op, _, p = ws.recv_frame()
            assert op == 8 and p[:2] == b"\x03\xe8"
            ws.s.settimeout(5)
            assert ws.s.recv(10) == b""                         # then it hangs up
        finally:
            ws.close()

    def test_many_consoles_at_once(self, ck, vnc):
        socks = []
        try:
            for _ in range(20):
                ws, _ = open_ws(ck, add_token(ck, add_instance(ck), vnc.port))
                socks.append(ws)
            for i, ws in enumerate(socks):
                msg = f"console {i}".encode()
                ws.send(msg)
                assert ws.recv_data(len(BANNER) + len(msg)) == BANNER + msg
        finally:
            for ws in socks:
                ws.close()

    def test_vnc_server_gone(self, ck):
        port = free_port()                       # nothing listens there
        status, _, _ = connect(ck.console_port, add_token(ck, add_instance(ck), port))
        assert status == 502

    def test_vnc_server_closes(self, ck):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)

        def once():
            c, _ = ls.accept()
            c.sendall(BANNER)
            c.close()
        threading.Thread(target=once, daemon=True).start()
        try:
            ws, _ = open_ws(ck, add_token(ck, add_instance(ck), ls.getsockname()[1]))
            assert ws.recv_data(len(BANNER)) == BANNER
            op, _, p = ws.recv_frame()
            assert op == 8 and p[:2] == b"\x03\xe8"             # 1000: normal closure
            ws.close()
        finally:
            ls.close()


# ---------------------------------------------------------------------------
# Tokens

class TestTokens:
    def refused(self, ck, vnc, tok, expect, **kw):
        before = vnc.accepted
        status, _, ws = connect(ck.console_port, tok, **kw)
        assert ws is None and status == expect, status
        time.sleep(0.05)
        assert vnc.accepted == before, "the VNC server was reached"

    def test_missing_forged_malformed(self, ck, vnc):
        self.refused(ck, vnc, None, 401)
        self.refused(ck, vnc, os.urandom(32).hex(), 401)                   # forged
        self.refused(ck, vnc, "not-a-token", 401)
        self.refused(ck, vnc, "A" * 64, 401)                               # not lower hex
        self.refused(ck, vnc, None, 401, cookie="token=" + os.urandom(32).hex())

    def test_hash_is_what_counts(self, ck, vnc, token):
        # a client presenting the stored hash itself gets nowhere
        self.refused(ck, vnc, hashlib.sha256(token.encode()).hexdigest(), 401)

    def test_expired_is_refused_and_deleted(self, ck, vnc):
        tok = add_token(ck, add_instance(ck), vnc.port, ttl=-1)
        self.refused(ck, vnc, tok, 401)
        h = hashlib.sha256(tok.encode()).hexdigest()
        with db(ck) as c:
            assert c.execute("SELECT COUNT(*) FROM cmp_console_token WHERE token_hash = ?",
                             (h,)).fetchone()[0] == 0

    def test_instance_not_running_or_gone(self, ck, vnc):
        for kw in ({"vm_state": "stopped"}, {"vm_state": "building"}, {"deleted": 1},
                   {"host": ""}):
            self.refused(ck, vnc, add_token(ck, add_instance(ck, **kw), vnc.port), 403)
        self.refused(ck, vnc, add_token(ck, str(uuid.uuid4()), vnc.port), 403)

    def test_token_is_bound_to_its_instance(self, ck, vnc):
        a = add_instance(ck)
        tok = add_token(ck, a, vnc.port)
        ws, _ = open_ws(ck, tok)
        ws.close()
        with db(ck) as c:                      # instance a goes away: its token dies
            c.execute("UPDATE cmp_instance SET deleted = 1, vm_state = 'deleted' WHERE id = ?",
                      (a,))
        self.refused(ck, vnc, tok, 403)

    def test_only_the_instance_host(self, ck, vnc):
        # a token row pointing anywhere but loopback / the node's address
        self.refused(ck, vnc, add_token(ck, add_instance(ck), vnc.port, host="10.1.2.3"), 403)
        self.refused(ck, vnc, add_token(ck, add_instance(ck), 0), 403)

    def test_origin_must_match_host(self, ck, vnc, token):
        self.refused(ck, vnc, token, 403, origin="http://evil.example")
        ws, _ = open_ws(ck, token, origin=f"http://127.0.0.1:{ck.console_port}")
        ws.close()


# ---------------------------------------------------------------------------
# Bad input never hurts the proxy

class TestBadInput:
    @pytest.mark.parametrize("kw,expect", [
        ({"key": ""}, 400),
        ({"key": "short"}, 400),
        ({"key": "!!!!!!!!!!!!!!!!!!!!!!=="}, 400),
        ({"version": "8"}, 400),
        ({"version": None}, 400),
    ])
    def test_malformed_handshakes(self, ck, vnc, token, kw, expect):
        req, _ = handshake_request(ck.console_port, token, **kw)
        status, headers, s, _ = http_exchange(ck.console_port, req)
        s.close()
        assert status == expect
        if kw.get("version") == "8":
            assert headers["sec-websocket-version"] == "13"

    def test_not_an_upgrade(self, ck, vnc, token):
        r = requests.get(f"{ck.console_url}/websockify?token={token}", timeout=10)
        assert r.status_code == 400
        r = requests.post(f"{ck.console_url}/websockify?token={token}", data=b"x", timeout=10)
        assert r.status_code == 405
        for hdr in ("Upgrade: h2c", "Connection: keep-alive"):
            name = hdr.split(":")[0]
            req, _ = handshake_request(ck.console_port, token)
            lines = [ln for ln in req.decode().split("\r\n") if not ln.startswith(name + ":")]
            req = "\r\n".join(lines[:-2] + [hdr, "", ""]).encode()
            status, _, s, _ = http_exchange(ck.console_port, req)
            s.close()
            assert status == 400, hdr
        assert alive(ck, vnc)

    @pytest.mark.parametrize("bad,code", [
        (frame(2, b"x", mask=False), 1002),                  # unmasked
        (frame(2, b"x", rsv=4), 1002),                       # RSV1 without extension
        (frame(1, b"text"), 1003),                           # text frames are not spoken
        (frame(3, b"x"), 1002),                              # reserved opcode
        (frame(9, b"x" * 126), 1002),                        # control frame too long
        (frame(9, b"x", fin=False), 1002),                   # fragmented control frame
        (frame(0, b"x"), 1002),                              # continuation of nothing
        (frame(2, b"a", fin=False) + frame(2, b"b"), 1002),  # new message inside one
        (frame(2, b"", length=1 << 40)[:14], 1009),          # 1 TiB announced
        (frame(2, b"", length=(1 << 20) + 1)[:10], 1009),     # just over 1 MiB
        (frame(8, b"\x03"), 1002),                           # close with a 1-byte body
        (frame(8, b"\x03\xed"), 1002),                       # close code 1005 is reserved
    ])
    def test_garbage_frames_close(self, ck, vnc, token, bad, code):
        ws, _ = open_ws(ck, token)
        try:
            assert ws.recv_data(len(BANNER)) == BANNER
            ws.s.sendall(bad)
            op, _, p = ws.recv_frame()
            assert op == 8 and int.from_bytes(p[:2], "big") == code, p
            ws.s.settimeout(5)
            assert ws.s.recv(10) == b""
        finally:
            ws.close()
        assert alive(ck, vnc)

    def test_random_garbage(self, ck, vnc):
        rnd = __import__("random").Random(6)
        for i in range(40):
            ws, _ = open_ws(ck, add_token(ck, add_instance(ck), vnc.port))
            try:
                ws.s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000))))
                ws.s.settimeout(5)
                try:
                    while ws.s.recv(65536):
                        pass
                except (socket.timeout, ConnectionResetError):
                    pass
            finally:
                ws.close()
        for raw in (os.urandom(2000), b"GET /websockify HTTP/1.1\r\n" + os.urandom(500),
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200)):
            s = socket.create_connection(("127.0.0.1", ck.console_port), timeout=5)
            try:
                s.sendall(raw + b"\r\n\r\n")
                s.recv(65536)
            except OSError:
                pass
            s.close()
        assert alive(ck, vnc)

    def test_client_vanishes_mid_stream(self, ck, vnc):
        for _ in range(10):
            ws, _ = open_ws(ck, add_token(ck, add_instance(ck), vnc.port))
            ws.s.sendall(frame(2, b"x" * 5000)[:3000])        # half a frame, then gone
            ws.close()
        assert alive(ck, vnc)


# ---------------------------------------------------------------------------
# The API side (os-getVNCConsole, wired by actions.c)

class TestApi:
    def action(self, ck, iid, body):
        return ck.nova().post(f"servers/{iid}/action", json=body)

    def own_instance(self, ck, **kw):
        admin = ck.client()
        proj = admin.get("auth/projects").json()["projects"]
        pid = next(p["id"] for p in proj if p["name"] == ck.admin_project)
        return add_instance(ck, project=pid, **kw)

    def wired(self, ck):
        r = self.action(ck, self.own_instance(ck), {"os-getVNCConsole": {"type": "novnc"}})
        if r.status_code == 400 and "no such action" in r.text:
            pytest.skip("actions.c does not dispatch os-getVNCConsole yet: " + r.text)
        return r

    def test_types_and_states(self, ck):
        r = self.wired(ck)
        # no agent runs in this kumo: the instance's host never answers
        assert r.status_code == 409, r.text
        assert "is not ready" in r.json()["conflictingRequest"]["message"]
        iid = self.own_instance(ck)
        r = self.action(ck, iid, {"os-getVNCConsole": {"type": "xvpvnc"}})
        assert r.status_code == 400 and "Invalid console type" in r.text, r.text
        for bad in ({"type": "spice"}, {}, {"type": "novnc", "x": 1}, {"type": 5}, "novnc"):
            r = self.action(ck, iid, {"os-getVNCConsole": bad})
            assert r.status_code == 400, (bad, r.text)
        stopped = self.own_instance(ck, vm_state="stopped")
        r = self.action(ck, stopped, {"os-getVNCConsole": {"type": "novnc"}})
        assert r.status_code == 409, r.text
        r = self.action(ck, str(uuid.uuid4()), {"os-getVNCConsole": {"type": "novnc"}})
        assert r.status_code == 404


# ---------------------------------------------------------------------------
# Shutdown

def test_stop_with_open_consoles(vnc):
    """SIGTERM while consoles are open: the proxy hangs them up and exits 0."""
    binary = _kumo_bin()
    if not binary.exists():
        pytest.skip("no kumo binary")
    tmp = Path(tempfile.mkdtemp(prefix="kumo-console-stop-"))
    k = ConsoleKumo(binary, tmp, free_port(), f"sqlite:///{tmp / 'identity.db'}")
    k.write_config()
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        socks = [open_ws(k, add_token(k, add_instance(k), vnc.port))[0] for _ in range(5)]
        for ws in socks:
            assert ws.recv_data(len(BANNER)) == BANNER
        t0 = time.time()
        k.stop()
        assert k.proc.returncode == 0, k.output()
        assert time.time() - t0 < 10
        for ws in socks:
            ws.s.settimeout(5)
            try:
                op, _, _ = ws.recv_frame()
                assert op == 8
            except (EOFError, ConnectionResetError):
                pass
            ws.close()
    finally:
        k.stop()
        if not os.environ.get("KUMO_TEST_KEEP"):
            subprocess.run(["rm", "-rf", str(tmp)])


# ---------------------------------------------------------------------------
# noVNC in a real browser (acceptance 2): headless Chromium + playwright-core

BROWSER = Path(__file__).resolve().parents[1] / "browser"


def browser_unavailable():
    if not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        return "no /usr/bin/chromium (apt install chromium)"
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        return "no playwright-core (cd tests/browser && npm ci)"
    if not NOVNC.is_dir():
        return "no /usr/share/novnc (apt install novnc)"
    return None


def run_browser(url, shot):
    why = browser_unavailable()
    if why:
        # make check prepares the browser (KUMO_REQUIRE_COMPUTE): missing is a failure there
        if os.environ.get("KUMO_REQUIRE_COMPUTE") == "1":
            pytest.fail(why)
        pytest.skip(why)
    r = subprocess.run(["node", str(BROWSER / "console.js"), url, str(shot)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    import json
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_browser_with_a_mini_rfb_server(ck, tmp_path):
    """The seed's URL shape, unchanged, in Chromium: vnc_auto.html?token=T
    connects and draws the server's picture."""
    rfb = MiniRfb()
    try:
        tok = add_token(ck, add_instance(ck), rfb.port)
        got = run_browser(f"{ck.console_url}/vnc_auto.html?token={tok}", tmp_path / "c.png")
        assert got["status"].startswith("Connected") and "kumo-test" in got["status"]
        assert (got["width"], got["height"]) == (MiniRfb.W, MiniRfb.H)
        assert got["colours"] > 1
        assert (tmp_path / "c.png").stat().st_size > 1000
    finally:
        rfb.close()


# ---------------------------------------------------------------------------
# A real VM (compute_env): `nova get-vnc-console` -> QEMU's VNC server

import compute_env as _ce  # noqa: E402

if not getattr(_ce.ComputeKumo, "_console_port_shim", False):
    # Until conftest gives every kumo a free [console] port, give the compute
    # environment's one, so that it never fights another kumo for 6080.
    _orig_write_config = _ce.ComputeKumo.write_config

    def _write_config(self):
        _orig_write_config(self)
        text = self.conf.read_text()
        if "[console]" not in text:
            self.conf.write_text(text + f"\n[console]\nport = {free_port()}\n")
    _ce.ComputeKumo.write_config = _write_config
    _ce.ComputeKumo._console_port_shim = True


def console_port_of(kumo):
    import configparser
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read(kumo.conf)
    return int(cp.get("console", "port", fallback="6080"))


def vm_console_url(env, sid):
    """What `nova get-vnc-console <server> novnc` prints (its URL)."""
    import re
    r = env.cli("get-vnc-console", sid, "novnc", cmd="nova", check=False)
    if r.returncode != 0 and "no such action" in (r.stdout + r.stderr):
        pytest.skip("actions.c does not dispatch os-getVNCConsole yet")
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"(http://\S+/vnc_auto\.html\?token=[0-9a-f]{64})", r.stdout)
    assert m, r.stdout
    return m.group(1)


@pytest.fixture(scope="module")
def vm(compute_env):
    s = compute_env.boot(f"console-{compute_env.id}")
    yield s["id"]
    compute_env.delete(s["id"])


def test_vm_console_url_bridges_to_qemu(compute_env, vm):
    url = vm_console_url(compute_env, vm)
    port = console_port_of(compute_env.kumo)
    assert url.startswith(f"http://127.0.0.1:{port}/vnc_auto.html?token=")
    token = url.rsplit("=", 1)[1]
    ws, _ = open_ws(SimpleNamespace(console_port=port), token)
    try:
        assert ws.recv_data(12) == BANNER                   # QEMU's RFB banner
    finally:
        ws.close()
    # the openstack CLI gets a working URL too
    r = compute_env.cli("console", "url", "show", "--novnc", "-f", "value", "-c", "url", vm)
    assert "/vnc_auto.html?token=" in r.stdout
    # a forged token gets nothing
    status, _, _ = connect(port, os.urandom(32).hex())
    assert status == 401


def test_vm_console_in_chromium(compute_env, vm, tmp_path):
    """Acceptance 2: the URL nova prints, opened in headless Chromium, shows
    the guest's screen through noVNC."""
    url = vm_console_url(compute_env, vm)
    got = run_browser(url, tmp_path / "vm-console.png")
    assert got["status"].startswith("Connected"), got
    assert got["colours"] > 1 and got["width"] >= 640
    keep = os.environ.get("KUMO_CONSOLE_SCREENSHOT")
    if keep:
        import shutil
        shutil.copy(tmp_path / "vm-console.png", keep)


def test_vm_token_dies_with_its_instance(compute_env):
    s = compute_env.boot(f"console-gone-{compute_env.id}")
    url = vm_console_url(compute_env, s["id"])
    port = console_port_of(compute_env.kumo)
    token = url.rsplit("=", 1)[1]
    compute_env.delete(s["id"])
    status, _, _ = connect(port, token)
    assert status == 403
