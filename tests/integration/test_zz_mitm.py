import socket, threading, subprocess, time
from test_compute_console import *
def test_mitm(ck, tmp_path):
    rfb = MiniRfb()
    ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(16)
    port = ls.getsockname()[1]
    logs = []
    def pump(a, b, tag):
        first = True
        try:
            while True:
                d = a.recv(65536)
                if not d: break
                if first and b"HTTP" in d[:20] or b"GET /websockify" in d[:30]:
                    logs.append((tag, d[:1500]))
                first = False
                b.sendall(d)
        except OSError: pass
    def acc():
        while True:
            try: c, _ = ls.accept()
            except OSError: return
            u = socket.create_connection(("127.0.0.1", ck.console_port))
            threading.Thread(target=pump, args=(c, u, "C"), daemon=True).start()
            threading.Thread(target=pump, args=(u, c, "S"), daemon=True).start()
    threading.Thread(target=acc, daemon=True).start()
    tok = add_token(ck, add_instance(ck), rfb.port)
    import os
    r = subprocess.run(["node", str(BROWSER / "console.js"), f"http://127.0.0.1:{port}/vnc_auto.html?token={tok}", "/tmp/x.png"], capture_output=True, text=True, timeout=60, env=dict(os.environ, CONSOLE_TIMEOUT_MS="8000"))
    print("STDOUT", r.stdout, "STDERR", r.stderr)
    for t, d in logs:
        if b"websockify" in d or b"101" in d[:20]:
            print(t, d.decode("latin-1"))
