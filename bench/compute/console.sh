#!/bin/bash
# bench/compute/console.sh - throughput of the noVNC console proxy (issue 6, acceptance 5).
#
# Runs `kumo console` alone (its own state directory: db-sync, one active
# instance row and console tokens written into compute.db; [compute]
# console_verify_port = false since no compute agent runs), a fake VNC server
# on loopback, and a WebSocket client (Python, frames written by hand, the
# all-zero mask key so the client spends no time masking) that pushes SIZE_MB
# through the proxy:
#   upload     client -> proxy -> VNC sink     (what a browser sends: keys, pointer)
#   download   VNC source -> proxy -> client   (what a screen sends: framebuffer updates)
#   echo       both ways at once through an echoing VNC server
#   echo x4    four consoles echoing at once (aggregate)
# Frames from the client are 256 KiB; the proxy answers in frames of up to 64 KiB.
#
# Output: bench/results/console-<UTC time>.txt (raw lines) and .md (the table,
# also printed).  Environment: KUMO_BIN [build/kumo, built when missing],
# SIZE_MB [100], BENCH_KEEP (keep the state directory).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../../tools/kumo-lib.sh"
cd "$KUMO_ROOT"

if [ -z "${KUMO_BIN:-}" ]; then
	[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized
	ninja -C build kumo
	KUMO_BIN="$KUMO_ROOT/build/kumo"
fi
SIZE_MB=${SIZE_MB:-100}
RES="$KUMO_ROOT/bench/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RES"
OUT="$RES/console-$STAMP.txt"
MD="$RES/console-$STAMP.md"

WORK=$(mktemp -d /var/tmp/kumo-consbench-XXXXXX)
KPID=
cleanup() {
	[ -n "$KPID" ] && stop_pid "$KPID" 20 || true
	[ -n "${BENCH_KEEP:-}" ] && say "state kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)
cat > "$WORK/kumo.conf" <<EOF
[DEFAULT]
state_dir = $WORK
bind_host = 127.0.0.1
debug = false
[console]
port = $PORT
workers = 4
[compute]
console_verify_port = false
EOF
"$KUMO_BIN" --config "$WORK/kumo.conf" manage db-sync > "$WORK/db-sync.log" 2>&1 ||
	die "db-sync failed: $(tail -5 "$WORK/db-sync.log")"
"$KUMO_BIN" --config "$WORK/kumo.conf" console > "$WORK/kumo.log" 2>&1 &
KPID=$!
wait_http "http://127.0.0.1:$PORT/vnc_lite.html" 30 "$KPID" ||
	die "kumo console did not start: $(tail -5 "$WORK/kumo.log")"

"$PY" - "$WORK/compute.db" "$PORT" "$SIZE_MB" "$OUT" "$MD" "$KUMO_BIN" <<'EOF'
import base64, hashlib, os, socket, sqlite3, struct, sys, threading, time, uuid

dbpath, port, size_mb, out, md, binary = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4], sys.argv[5], sys.argv[6]
SIZE = size_mb * 1024 * 1024
CHUNK = 256 * 1024
db = sqlite3.connect(dbpath, timeout=10)
iid = str(uuid.uuid4())
db.execute("INSERT INTO cmp_instance (id, project_id, user_id, flavor_id, vm_state, "
           "power_state, host, node) VALUES (?, 'p', 'u', '1', 'active', 1, 'bench', 'bench')",
           (iid,))
db.commit()


def token(vnc_port):
    t = os.urandom(32).hex()
    now = int(time.time() * 1e6)
    db.execute("INSERT INTO cmp_console_token (token_hash, instance_id, host, port, "
               "expires_at, created_at) VALUES (?, ?, '127.0.0.1', ?, ?, ?)",
               (hashlib.sha256(t.encode()).hexdigest(), iid, vnc_port, now + 600 * 10**6, now))
    db.commit()
    return t


def vnc_server(kind):
    """A VNC stand-in: 'sink' reads SIZE bytes then says 'done', 'source'
    sends SIZE bytes, 'echo' echoes."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)

    def one(c):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        try:
            if kind == "sink":
                got = 0
                while got < SIZE:
                    d = c.recv(1 << 20)
                    if not d:
                        return
                    got += len(d)
                c.sendall(b"done")
            elif kind == "source":
                blob = b"\x5a" * (1 << 20)
                left = SIZE
                while left:
                    n = min(left, len(blob))
                    c.sendall(blob[:n])
                    left -= n
            else:
                while True:
                    d = c.recv(1 << 20)
                    if not d:
                        return
                    c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def loop():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return ls, ls.getsockname()[1]


def ws_open(vnc_port):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /websockify?token={token(vnc_port)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, bytearray(rest)


HDR = struct.pack("!BBQ", 0x82, 0x80 | 127, CHUNK) + b"\0\0\0\0"   # zero mask key
PAYLOAD = b"\xa5" * CHUNK


def send_all(s, total):
    left = total
    while left:
        n = min(left, CHUNK)
        if n == CHUNK:
            s.sendall(HDR + PAYLOAD)
        else:
            s.sendall(struct.pack("!BBQ", 0x82, 0x80 | 127, n) + b"\0\0\0\0" + PAYLOAD[:n])
        left -= n


def recv_payload(s, buf, total):
    """Read frames until total payload bytes came; returns leftover buffer."""
    got = 0
    view_need = 0
    while got < total:
        while True:
            if len(buf) >= 2:
                n, off = buf[1] & 0x7F, 2
                if n == 126 and len(buf) >= 4:
                    n, off = struct.unpack_from("!H", buf, 2)[0], 4
                elif n == 127 and len(buf) >= 10:
                    n, off = struct.unpack_from("!Q", buf, 2)[0], 10
                elif n >= 126:
                    n = -1
                if n >= 0 and len(buf) >= off + n:
                    assert buf[0] & 0x0F == 2, bytes(buf[:16])
                    got += n
                    del buf[:off + n]
                    if got >= total:
                        break
                    continue
            d = s.recv(1 << 20)
            if not d:
                raise EOFError("proxy closed")
            buf += d
            view_need += 1
        break
    return buf


def run(kind, streams=1):
    ls, vport = vnc_server("sink" if kind == "upload" else "source" if kind == "download"
                           else "echo")
    conns = [ws_open(vport) for _ in range(streams)]
    errors = []

    def one(s, buf):
        try:
            if kind == "upload":
                send_all(s, SIZE)
                buf = recv_payload(s, buf, 4)
            elif kind == "download":
                recv_payload(s, buf, SIZE)
            else:
                t = threading.Thread(target=send_all, args=(s, SIZE))
                t.start()
                recv_payload(s, buf, SIZE)
                t.join()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    t0 = time.perf_counter()
    ths = [threading.Thread(target=one, args=c) for c in conns]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    dt = time.perf_counter() - t0
    for s, _ in conns:
        s.close()
    ls.close()
    if errors:
        raise errors[0]
    return dt


rows = []
for name, kind, streams in (("upload", "upload", 1), ("download", "download", 1),
                            ("echo", "echo", 1), ("echo x4", "echo", 4)):
    dt = run(kind, streams)
    mb = size_mb * streams
    rows.append((name, mb, dt, mb / dt))
    print(f"RESULT {name} {mb} MB {dt:.3f} s {mb / dt:.1f} MB/s", flush=True)

with open(out, "w") as f:
    for r in rows:
        f.write(f"RESULT {r[0]} {r[1]} MB {r[2]:.3f} s {r[3]:.1f} MB/s\n")
with open(md, "w") as f:
    f.write(f"Console proxy throughput ({binary}), {size_mb} MB per stream, loopback\n\n")
    f.write("| test | MB | seconds | MB/s |\n|---|---:|---:|---:|\n")
    for r in rows:
        f.write(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.0f} |\n")
print(open(md).read())
EOF
grep -q "ERROR\|runtime error" "$WORK/kumo.log" && say "kumo.log has errors: $(grep -m3 "ERROR\|runtime error" "$WORK/kumo.log")"
say "results: $OUT $MD"
