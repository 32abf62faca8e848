"""A tiny RFC 6455 client for the console proxy's tests and benchmark.

Debian's Python has no WebSocket library installed by default, and the tests
need to send what no library would (unmasked frames, RSV bits, broken
handshakes), so the handshake and the frames are written by hand.
"""

import base64
import hashlib
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def http_exchange(port, request, host="127.0.0.1", timeout=10):
    """Send raw bytes, return (status, headers dict lower-case, socket, rest)
    where rest is whatever followed the header block."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    return status, headers, s, rest


def handshake_request(port, token=None, path="/websockify", key=None, version="13",
                      extra=None, cookie=None, origin=None, protocols=None):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    target = path + (f"?token={token}" if token else "")
    h = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
         "Connection: Upgrade", f"Sec-WebSocket-Key: {key}"]
    if version is not None:
        h.append(f"Sec-WebSocket-Version: {version}")
    if cookie:
        h.append(f"Cookie: {cookie}")
    if origin:
        h.append(f"Origin: {origin}")
    if protocols:
        h.append(f"Sec-WebSocket-Protocol: {protocols}")
    h += extra or []
    return ("\r\n".join(h) + "\r\n\r\n").encode(), key


def mask_bytes(payload, mask):
    if not payload:
        return payload
    n = len(payload)
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None, length=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return hdr + key + mask_bytes(payload, key)
    return hdr + payload


class WS:
    """An open WebSocket: send()/recv_frame()/recv_data()."""

    def __init__(self, sock, rest=b""):
        self.s = sock
        self.buf = rest

    def send(self, data, opcode=2):
        self.s.sendall(frame(opcode, data))

    def _need(self, n):
        while len(self.buf) < n:
            c = self.s.recv(1 << 20)
            if not c:
                raise EOFError("connection closed")
            self.buf += c

    def recv_frame(self):
        """(opcode, fin, payload) of the next server frame."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames are never masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, bool(b0 & 0x80), payload

    def recv_data(self, n):
        """n bytes of binary-frame payload (frames may split them)."""
        out = b""
        while len(out) < n:
            op, _, p = self.recv_frame()
            assert op == 2, f"unexpected opcode {op}: {p!r}"
            out += p
        return out

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def connect(port, token, **kw):
    """Handshake; returns (status, headers, WS or None)."""
    req, key = handshake_request(port, token, **kw)
    status, headers, s, rest = http_exchange(port, req)
    if status != 101:
        s.close()
        return status, headers, None
    assert headers.get("sec-websocket-accept") == accept_for(key), headers
    return status, headers, WS(s, rest)
