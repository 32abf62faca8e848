#!/usr/bin/python3
"""bench/network/measure.py - ports through the API and their DHCP, measured.

Starts a kumo of its own (`kumo all`, network agents on, fresh state in
BENCH_DIR, free loopback ports, port quota unlimited), makes one network
with a /20 subnet, then:

  1. creates N ports one after the other through POST /v2.0/ports (one
     keep-alive connection, c = 1), timing each request;
  2. meanwhile a DHCP prober inside a namespace plugged into the network (a
     port with port security off, so it may speak for any MAC) sends a
     DHCPDISCOVER for every created port's MAC from a raw socket, again
     every RETRY_S until dnsmasq answers; a port is "served" at its first
     DHCPOFFER, which must carry the port's fixed IP.  The hosts file the
     DHCP agent writes is polled too (when the entry appears);
  3. times GET /v2.0/ports?network_id=<net> (all N ports) and
     GET /v2.0/ports?network_id=<net>&limit=50, LIST_REPS times each.

Goals (issue 4): p50 of port create < 5 ms; every port served by DHCP within
10 s of the last create.  Prints "RESULT key=value ..." lines and a Markdown
table.  Everything it made (namespaces, bridge, dnsmasq, state) is removed at
the end, also on failure.

Environment: N [1000], KUMO_BIN [build/kumo], BENCH_DIR [/var/tmp],
LIST_REPS [20], RETRY_S [0.3], SERVE_TIMEOUT [60], BENCH_DEBUG [1] (kumo's
debug log, which lets the dnsmasq reloads be counted; 0 = info).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
N = int(os.environ.get("N", "1000"))
LIST_REPS = int(os.environ.get("LIST_REPS", "20"))
RETRY_S = float(os.environ.get("RETRY_S", "0.3"))
SERVE_TIMEOUT = float(os.environ.get("SERVE_TIMEOUT", "60"))
# debug logging makes the DHCP agent log each dnsmasq reload (counted)
DEBUG = os.environ.get("BENCH_DEBUG", "1") == "1"
CIDR = "10.77.0.0/20"

# The prober runs inside the probe namespace: reads "mac ip" lines on stdin
# (ports to probe), prints "OFFER mac yiaddr unix_time" for each first offer.
PROBER = r"""
import os, random, select, socket, struct, sys, threading, time
iface, retry = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind((iface, 0))
mymac = s.getsockname()[4]
pending = {}          # mac bytes -> next send time
lock = threading.Lock()
done = set()

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff

def discover(mac):
    xid = random.getrandbits(32)
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                        b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4, mac + b"\0" * 10,
                        b"\0" * 64, b"\0" * 128)
    opts = b"\x63\x82\x53\x63" + bytes([53, 1, 1, 55, 4, 1, 3, 6, 121, 255])
    payload = bootp + opts
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     b"\0" * 4, b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\xff" * 6 + mymac + b"\x08\x00" + ip + udp

def reader():
    for line in sys.stdin:
        parts = line.split()
        if len(parts) >= 1:
            mac = bytes.fromhex(parts[0].replace(":", ""))
            with lock:
                if mac not in done:
                    pending[mac] = 0.0
    with lock:
        pending[b"EOF"] = 0.0

threading.Thread(target=reader, daemon=True).start()
print("ready", flush=True)
eof = False
while True:
    now = time.time()
    with lock:
        due = [m for m, t in pending.items() if t <= now and m != b"EOF"]
        eof = b"EOF" in pending
        for m in due:
            pending[m] = now + retry
        left = len(pending) - (1 if eof else 0)
    if eof and left == 0:
        break
    for m in due:
        try:
            s.send(discover(m))
        except OSError:
            pass
    r, _, _ = select.select([s], [], [], 0.02)
    while r:
        try:
            f = s.recv(2048)
        except BlockingIOError:
            break
        if len(f) >= 14 + 20 + 8 + 240 and f[12:14] == b"\x08\x00":
            ihl = (f[14] & 0x0f) * 4
            u = 14 + ihl
            if f[14 + 9] == 17 and struct.unpack("!H", f[u + 2:u + 4])[0] == 68:
                b = u + 8
                op = f[b]
                yiaddr = socket.inet_ntoa(f[b + 16:b + 20])
                chaddr = f[b + 28:b + 34]
                o = b + 240
                mtype = None
                while o < len(f) and f[o] != 255:
                    if f[o] == 0:
                        o += 1
                        continue
                    if f[o] == 53:
                        mtype = f[o + 2]
                    o += 2 + f[o + 1]
                if op == 2 and mtype == 2:
                    with lock:
                        first = chaddr in pending and chaddr not in done
                        if first:
                            done.add(chaddr)
                            del pending[chaddr]
                    if first:
                        print("OFFER %s %s %.6f" % (chaddr.hex(":"), yiaddr, time.time()),
                              flush=True)
        r, _, _ = select.select([s], [], [], 0)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def run(*cmd, check=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.strip()}")
    return r


class Api:
    """Keep-alive JSON client (http.client: the least client overhead)."""

    def __init__(self, port, token=None):
        self.port, self.token = port, token
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def req(self, method, path, body=None, headers=None):
        h = {"Accept": "application/json"}
        if self.token:
            h["X-Auth-Token"] = self.token
        if body is not None:
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        self.c.request(method, path, body=body, headers=h)
        r = self.c.getresponse()
        data = r.read()
        return r.status, r.getheaders(), (json.loads(data) if data else None)


class Bench:
    def __init__(self):
        base = Path(os.environ.get("BENCH_DIR", "/var/tmp"))
        self.dir = Path(tempfile.mkdtemp(prefix="kumo-bench-net-", dir=base))
        b = os.environ.get("KUMO_BIN", "build/kumo")
        self.bin = Path(b) if Path(b).is_absolute() else REPO / b
        self.id = uuid.uuid4().hex[:6]
        self.probe_ns = f"kb{self.id}p"
        self.proc = None
        self.prober = None
        self.net_id = None
        self.probe_tap = None
        self.ports = {}            # mac -> {"id", "ip", "t_created", "t_offer", "t_hosts"}
        self.lines = []

    def out(self, line):
        print(line, flush=True)
        self.lines.append(line)

    # -- kumo --
    def start_kumo(self):
        self.pw = "bench-" + uuid.uuid4().hex[:8]
        self.id_port, self.img_port, self.net_port = free_port(), free_port(), free_port()
        conf = self.dir / "kumo.conf"
        conf.write_text(
            f"[DEFAULT]\nstate_dir = {self.dir}\nbind_host = 127.0.0.1\n"
            f"debug = {'true' if DEBUG else 'false'}\n"
            "transport_url = local://\n"
            f"\n[identity]\nport = {self.id_port}\nadmin_port = 0\npassword_hash_rounds = 4\n"
            f"\n[image]\nport = {self.img_port}\n"
            f"\n[network]\nport = {self.net_port}\nagents = true\n"
            "\n[quotas]\nquota_port = -1\n")
        self.conf = conf

        def manage(*a):
            run(self.bin, "--config", conf, "manage", *a)
        manage("db-sync")
        manage("fernet-setup")
        url = f"http://127.0.0.1:{self.id_port}"
        manage("bootstrap", "--bootstrap-password", self.pw, "--bootstrap-region-id",
               "RegionOne", "--bootstrap-public-url", url, "--bootstrap-internal-url", url,
               "--bootstrap-admin-url", url)
        self.log = open(self.dir / "kumo.log", "ab")
        self.proc = subprocess.Popen([str(self.bin), "--config", str(conf), "all"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kumo exited; see " + str(self.dir / "kumo.log"))
            try:
                st, _, _ = Api(self.net_port).req("GET", "/")
                if st == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the network API did not answer")
        st, hdrs, _ = Api(self.id_port).req("POST", "/v3/auth/tokens", {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": self.pw}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        assert st == 201, st
        self.token = dict((k.lower(), v) for k, v in hdrs)["x-subject-token"]
        self.api = Api(self.net_port, self.token)

    # -- the network and the probe --
    def make_network(self):
        st, _, body = self.api.req("POST", "/v2.0/networks", {"network": {
            "name": f"bench-{self.id}", "provider:network_type": "local"}})
        if st != 201:   # "local" refused: a tenant network of the default type
            st, _, body = self.api.req("POST", "/v2.0/networks", {"network": {
                "name": f"bench-{self.id}"}})
        assert st == 201, (st, body)
        self.net_id = body["network"]["id"]
        self.out(f"# network {self.net_id} type={body['network'].get('provider:network_type')}")
        st, _, body = self.api.req("POST", "/v2.0/subnets", {"subnet": {
            "network_id": self.net_id, "ip_version": 4, "cidr": CIDR, "name": "bench"}})
        assert st == 201, (st, body)
        self.subnet_id = body["subnet"]["id"]

    def make_probe(self):
        st, _, body = self.api.req("POST", "/v2.0/ports", {"port": {
            "network_id": self.net_id, "name": "probe", "port_security_enabled": False}})
        assert st == 201, (st, body)
        p = body["port"]
        self.probe_tap = "tap" + p["id"][:11]
        run("ip", "netns", "add", self.probe_ns)
        run("ip", "link", "add", self.probe_tap, "type", "veth", "peer", "name", "eth0",
            "address", p["mac_address"], "netns", self.probe_ns)
        run("ip", "-n", self.probe_ns, "link", "set", "lo", "up")
        run("ip", "-n", self.probe_ns, "link", "set", "eth0", "up")
        run("ip", "link", "set", self.probe_tap, "up")
        deadline = time.time() + 30
        while time.time() < deadline:
            st, _, body = self.api.req("GET", f"/v2.0/ports/{p['id']}")
            if body["port"]["status"] == "ACTIVE":
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the probe port never became ACTIVE")
        self.prober = subprocess.Popen(
            ["ip", "netns", "exec", self.probe_ns, "/usr/bin/python3", "-c", PROBER, "eth0",
             str(RETRY_S)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.prober.stdout.readline().strip() == "ready"
        # dnsmasq must be up: the probe's own MAC gets an offer first
        self.offers = {}
        self.offer_cv = threading.Condition()
        threading.Thread(target=self.read_offers, daemon=True).start()
        t0 = time.time()
        self.prober.stdin.write(p["mac_address"] + "\n")
        with self.offer_cv:
            ok = self.offer_cv.wait_for(lambda: p["mac_address"] in self.offers, timeout=60)
        if not ok:
            raise RuntimeError("dnsmasq never answered the probe")
        self.out(f"# dhcp up: probe answered after {time.time() - t0:.2f}s")

    def read_offers(self):
        for line in self.prober.stdout:
            parts = line.split()
            if len(parts) == 4 and parts[0] == "OFFER":
                with self.offer_cv:
                    self.offers[parts[1]] = (parts[2], float(parts[3]))
                    self.offer_cv.notify_all()

    def watch_hosts(self, stop):
        path = self.dir / "dhcp" / self.net_id / "host"
        seen = {}
        while not stop.is_set():
            try:
                text = path.read_text()
            except OSError:
                text = ""
            now = time.time()
            for line in text.splitlines():
                mac = line.split(",", 1)[0].strip().lower()
                if mac and mac not in seen:
                    seen[mac] = now
            self.hosts_seen = seen
            stop.wait(0.05)

    # -- the measurement --
    def create_ports(self):
        self.hosts_seen = {}
        stop = threading.Event()
        w = threading.Thread(target=self.watch_hosts, args=(stop,), daemon=True)
        w.start()
        lat = []
        t_first = time.time()
        for i in range(N):
            t0 = time.perf_counter()
            st, _, body = self.api.req("POST", "/v2.0/ports", {"port": {
                "network_id": self.net_id, "name": f"b{i}"}})
            dt = time.perf_counter() - t0
            if st != 201:
                raise RuntimeError(f"port create {i}: {st} {body}")
            lat.append(dt * 1000)
            p = body["port"]
            self.ports[p["mac_address"]] = {"id": p["id"], "ip": p["fixed_ips"][0]["ip_address"],
                                            "t_created": time.time()}
            self.prober.stdin.write(p["mac_address"] + "\n")
        t_last = time.time()
        self.prober.stdin.close()
        with self.offer_cv:
            self.offer_cv.wait_for(lambda: all(m in self.offers for m in self.ports),
                                   timeout=SERVE_TIMEOUT)
        t_end = time.time()
        stop.set()
        w.join()
        self.log.flush()
        log = (self.dir / "kumo.log").read_text(errors="replace")
        reloads = log.count(f"of network {self.net_id} reloaded")
        restarts = log.count(f"dnsmasq started for network {self.net_id}") + \
            log.count(f"restarting dnsmasq of network {self.net_id}")
        served = [m for m in self.ports if m in self.offers]
        wrong = [m for m in served if self.offers[m][0] != self.ports[m]["ip"]]
        delays = [self.offers[m][1] - self.ports[m]["t_created"] for m in served]
        hosts = [self.hosts_seen[m] - self.ports[m]["t_created"] for m in self.ports
                 if m in self.hosts_seen]
        last_offer = max((self.offers[m][1] for m in served), default=float("nan"))
        self.res = {
            "n": N, "create_p50_ms": pct(lat, 50), "create_p90_ms": pct(lat, 90),
            "create_p99_ms": pct(lat, 99), "create_max_ms": max(lat),
            "create_total_s": t_last - t_first, "create_rate": N / (t_last - t_first),
            "served": len(served), "wrong_ip": len(wrong),
            "dhcp_p50_s": pct(delays, 50), "dhcp_p99_s": pct(delays, 99),
            "dhcp_max_s": max(delays, default=float("nan")),
            "all_served_after_last_create_s": (last_offer - t_last) if len(served) == N
            else float("nan"),
            "hosts_p50_s": pct(hosts, 50), "hosts_max_s": max(hosts, default=float("nan")),
            "hosts_seen": len(hosts), "waited_s": t_end - t_last,
            "dnsmasq_reloads": reloads if DEBUG else -1, "dnsmasq_starts": restarts,
        }
        self.out("RESULT " + " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in self.res.items()))

    def list_latency(self):
        for name, path in (("list_all", f"/v2.0/ports?network_id={self.net_id}"),
                           ("list_50", f"/v2.0/ports?network_id={self.net_id}&limit=50")):
            lat, count = [], 0
            for _ in range(LIST_REPS):
                t0 = time.perf_counter()
                st, _, body = self.api.req("GET", path)
                lat.append((time.perf_counter() - t0) * 1000)
                assert st == 200, st
                count = len(body["ports"])
            self.res[f"{name}_p50_ms"] = pct(lat, 50)
            self.res[f"{name}_p90_ms"] = pct(lat, 90)
            self.out(f"RESULT {name} ports={count} reps={LIST_REPS} p50_ms={pct(lat, 50):.2f} "
                     f"p90_ms={pct(lat, 90):.2f} max_ms={max(lat):.2f}")

    def table(self):
        r = self.res
        ok = lambda b: "yes" if b else "**no**"
        return "\n".join([
            "| what | value | goal |", "|---|---|---|",
            f"| port create p50 (c=1) | {r['create_p50_ms']:.2f} ms | < 5 ms: "
            f"{ok(r['create_p50_ms'] < 5)} |",
            f"| port create p90 / p99 / max | {r['create_p90_ms']:.2f} / "
            f"{r['create_p99_ms']:.2f} / {r['create_max_ms']:.2f} ms | |",
            f"| {N} creates | {r['create_total_s']:.2f} s ({r['create_rate']:.0f}/s) | |",
            f"| ports served by DHCP (right IP) | {r['served'] - r['wrong_ip']} / {N} | all |",
            f"| last DHCP offer after the last create | "
            f"{r['all_served_after_last_create_s']:.2f} s | < 10 s: "
            f"{ok(r['all_served_after_last_create_s'] < 10)} |",
            f"| create -> first DHCP offer, p50 / p99 / max | {r['dhcp_p50_s']:.2f} / "
            f"{r['dhcp_p99_s']:.2f} / {r['dhcp_max_s']:.2f} s | |",
            f"| create -> entry in the hosts file, p50 / max | {r['hosts_p50_s']:.2f} / "
            f"{r['hosts_max_s']:.2f} s ({r['hosts_seen']} seen) | |",
            f"| dnsmasq reloads (SIGHUP) / starts, whole run | "
            f"{r['dnsmasq_reloads'] if r['dnsmasq_reloads'] >= 0 else '?'} / "
            f"{r['dnsmasq_starts']} | few (batched) |",
            f"| GET /v2.0/ports?network_id (all {N + 2}) p50 / p90 | "
            f"{r['list_all_p50_ms']:.2f} / {r['list_all_p90_ms']:.2f} ms | |",
            f"| GET /v2.0/ports?network_id&limit=50 p50 / p90 | "
            f"{r['list_50_p50_ms']:.2f} / {r['list_50_p90_ms']:.2f} ms | |",
        ])

    # -- cleanup: everything this run made --
    def cleanup(self):
        if self.prober and self.prober.poll() is None:
            self.prober.kill()
            self.prober.wait()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        nss = [self.probe_ns] + ([f"qdhcp-{self.net_id}"] if self.net_id else [])
        for ns in nss:
            if not Path("/run/netns", ns).exists():
                continue
            for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)   # this run's dnsmasq
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "delete", ns, check=False)
        devs = [self.probe_tap] if self.probe_tap else []
        if self.net_id:
            devs.append("brq" + self.net_id[:11])
        for d in devs:
            if Path("/sys/class/net", d).exists():
                run("ip", "link", "del", d, check=False)
        if os.environ.get("BENCH_KEEP"):
            print(f"# state kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        sys.exit("bench/network needs root (namespaces, bridges, dnsmasq)")
    b = Bench()
    try:
        b.out(f"# kumo network bench: N={N} nproc={os.cpu_count()} {os.uname().release}")
        b.start_kumo()
        b.make_network()
        b.make_probe()
        b.create_ports()
        b.list_latency()
        b.out("")
        b.out(b.table())
        out = os.environ.get("BENCH_OUT")
        if out:
            Path(out).write_text("\n".join(b.lines) + "\n")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
