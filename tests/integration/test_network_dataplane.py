"""The Network data plane end to end, with network namespaces as guests
(issue 4, acceptance 2).

A kumo of its own runs with the agents on.  The world it gets:

  * an "external" namespace kt<id>x behind a veth whose host end kx<id> is
    the physnet "public" of this kumo ([network] physical_interface_mappings);
    it holds the external subnet's gateway 198.51.100.1 and runs a TCP
    server that answers each connection with the caller's address;
  * guests: namespaces kt<id>g1.. with a veth whose host end is
    tap<11 chars of the port id> (as libvirt makes one for a VM) and whose
    guest end eth0 has the port's MAC; they get their address with busybox
    udhcpc (our own event script: the lease is recorded, /etc untouched);
  * a stand-in for the compute metadata API on 127.0.0.1 that records the
    headers the metadata proxy sends.

The tests run in order and build on each other: DHCP (exact fixed IPs and
the metadata route), security groups (ICMP, then TCP 22, only once a rule
allows them), anti-spoofing, a router joining two tenant subnets, SNAT to
the external network, a floating IP, the metadata proxy's signature.
Everything made here has a unique name and is removed by finalizers, even
when a test fails: API resources first (so the agents clean up), then the
kumo, then whatever is left of namespaces, veths and bridges that carry
this run's ids.  Nothing touches the machine's own interfaces or routes.

Needs root and ip, nft, dnsmasq, udhcpc, ping (skipped otherwise).  With
KUMO_TEST_DB_URL=mysql://... the kumo uses a scratch MariaDB database, as the
shared fixture does.
"""

import hashlib
import hmac
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import Kumo, ScratchMysql, _kumo_bin, free_port

TOOLS = ("ip", "nft", "dnsmasq", "udhcpc", "ping")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(t) is None and not Path("/usr/sbin", t).exists()
                           and not Path("/sbin", t).exists() for t in TOOLS),
                       reason="needs " + ", ".join(TOOLS) + " (tools/install-deps.sh)"),
]

PY = "/usr/bin/python3"
EXT_CIDR, EXT_GW = "198.51.100.0/24", "198.51.100.1"
CIDR_A, CIDR_B = "192.168.151.0/24", "192.168.152.0/24"

# udhcpc event script: records the lease, configures eth0 (address, classless
# static routes or the router), never writes /etc/resolv.conf.
DHCP_SCRIPT = r"""#!/bin/sh
case "$1" in
deconfig)
    ip link set "$interface" up
    ip -4 addr flush dev "$interface"
    ;;
bound|renew)
    {
        echo "ip=$ip"; echo "mask=$mask"; echo "subnet=$subnet"; echo "router=$router"
        echo "dns=$dns"; echo "serverid=$serverid"; echo "staticroutes=$staticroutes"
        echo "hostname=$hostname"; echo "mtu=$mtu"; echo "lease=$lease"
    } > "$LEASE_FILE.tmp" && mv "$LEASE_FILE.tmp" "$LEASE_FILE"
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$staticroutes" ]; then
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            ip route replace "$1" via "$2" dev "$interface"
            shift 2
        done
    elif [ -n "$router" ]; then
        ip route replace default via "${router%% *}" dev "$interface"
    fi
    ;;
esac
exit 0
"""

# TCP server: answers every connection with "<peer address>\n".
PEER_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    c, a = s.accept()
    try:
        c.sendall((a[0] + "\n").encode())
    finally:
        c.close()
"""

PEER_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
print(s.recv(200).decode().strip())
"""

HTTP_GET = r"""
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.stdout.write(r.read().decode())
"""


def run(*cmd, check=True, timeout=30, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def nsrun(ns, *cmd, **kw):
    return run("ip", "netns", "exec", ns, *cmd, **kw)


def wait_for(fn, timeout=20.0, interval=0.3, what="condition"):
    """Poll fn() until it returns a truthy value; that value, or an AssertionError."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (AssertionError, requests.RequestException, subprocess.SubprocessError,
                KeyError, IndexError) as e:
            last = e
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f": {last}" if last else ""))
        time.sleep(interval)


def ns_exists(ns):
    return Path("/run/netns", ns).exists()


def link_exists(dev):
    return Path("/sys/class/net", dev).exists()


class Neutron:
    """Tiny client for the Network API (/v2.0) with one token."""

    def __init__(self, url, token):
        self.base = url.rstrip("/") + "/v2.0"
        self.s = requests.Session()
        self.s.headers.update({"X-Auth-Token": token, "Accept": "application/json"})

    def req(self, method, path, body=None, expect=None, **kw):
        r = self.s.request(method, f"{self.base}/{path.lstrip('/')}", json=body, timeout=30,
                           **kw)
        if expect is not None:
            assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r

    def get(self, path, **kw):
        return self.req("GET", path, expect=200, **kw).json()

    def post(self, path, body):
        return self.req("POST", path, body, expect=201).json()

    def put(self, path, body):
        return self.req("PUT", path, body, expect=200).json()

    def delete(self, path):
        return self.req("DELETE", path)


class MetadataStandIn:
    """The compute metadata API's stand-in: records every request's headers."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append({"path": self.path, "headers": dict(self.headers)})
                body = b'{"uuid": "stand-in"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class World:
    """Everything this module builds, and how to take it down again."""

    def __init__(self, tmp):
        self.id = uuid.uuid4().hex[:6]
        self.tmp = Path(tmp)
        self.ext_ns = f"kt{self.id}x"
        self.ext_dev = f"kx{self.id}"
        self.secret = "mdsecret-" + uuid.uuid4().hex[:8]
        self.script = self.tmp / "udhcpc.script"
        self.script.write_text(DHCP_SCRIPT)
        self.script.chmod(0o755)
        self.kumo = None
        self.neutron = None
        self.project_id = None
        self.procs = []          # background processes we started
        self.namespaces = []     # guest/external namespaces we made
        self.host_links = []     # host links we made
        self.cleanups = []       # (fn, args) undoing API changes, run most recent first
        self.network_ids = []
        self.port_ids = []
        self.router_ids = []
        self.guests = {}
        self.metadata = None

    # -- background processes --
    def spawn(self, *cmd):
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        return p

    def peer_server(self, ns, port):
        p = self.spawn("ip", "netns", "exec", ns, PY, "-c", PEER_SERVER, port)
        line = p.stdout.readline()
        assert line.strip() == "ready", f"server in {ns} did not start: {line}"
        return p

    # -- the external side --
    def make_external(self):
        run("ip", "netns", "add", self.ext_ns)
        self.namespaces.append(self.ext_ns)
        run("ip", "link", "add", self.ext_dev, "type", "veth", "peer", "name", "eth0", "netns",
            self.ext_ns)
        self.host_links.append(self.ext_dev)
        run("ip", "link", "set", self.ext_dev, "up")
        run("ip", "-n", self.ext_ns, "link", "set", "lo", "up")
        run("ip", "-n", self.ext_ns, "link", "set", "eth0", "up")
        run("ip", "-n", self.ext_ns, "addr", "add", EXT_GW + "/24", "dev", "eth0")

    # -- API objects, each registered for deletion --
    def on_cleanup(self, fn, *args):
        self.cleanups.append((fn, args))

    def create(self, collection, member, body):
        obj = self.neutron.post(collection, {member: body})[member]
        self.on_cleanup(self.neutron.delete, f"{collection}/{obj['id']}")
        if collection == "networks":
            self.network_ids.append(obj["id"])
        elif collection == "ports":
            self.port_ids.append(obj["id"])
        elif collection == "routers":
            self.router_ids.append(obj["id"])
        return obj

    # -- guests --
    def guest(self, name, port):
        ns = f"kt{self.id}{name}"
        tap = "tap" + port["id"][:11]
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "link", "add", tap, "type", "veth", "peer", "name", "eth0", "address",
            port["mac_address"], "netns", ns)
        self.host_links.append(tap)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "link", "set", tap, "up")
        g = {"ns": ns, "port": port, "tap": tap, "lease": self.tmp / f"lease-{name}",
             "ip": port["fixed_ips"][0]["ip_address"]}
        self.guests[name] = g
        return g

    def dhcp(self, g, timeout=40):
        """Run udhcpc in the guest until it has a lease; the lease as a dict."""
        def attempt():
            r = nsrun(g["ns"], "env", f"LEASE_FILE={g['lease']}", "udhcpc", "-i", "eth0",
                      "-f", "-q", "-n", "-t", "4", "-T", "1", "-O", "staticroutes",
                      "-s", self.script, check=False, timeout=30)
            return r.returncode == 0 and g["lease"].exists()
        wait_for(attempt, timeout=timeout, interval=0.5, what=f"a DHCP lease in {g['ns']}")
        lease = {}
        for line in g["lease"].read_text().splitlines():
            k, _, v = line.partition("=")
            lease[k] = v
        return lease

    def ping(self, g_or_ns, addr, count=1, wait=1, src=None):
        ns = g_or_ns["ns"] if isinstance(g_or_ns, dict) else g_or_ns
        cmd = ["ping", "-n", "-c", str(count), "-W", str(wait)]
        if src:
            cmd += ["-I", src]
        return nsrun(ns, *cmd, addr, check=False, timeout=count * wait + 10).returncode == 0

    def tcp_peer(self, ns, addr, port, timeout=2):
        """Connect from ns to addr:port; the address the server saw, or None."""
        r = nsrun(ns, PY, "-c", PEER_CLIENT, addr, port, timeout, check=False,
                  timeout=timeout + 10)
        return r.stdout.strip() if r.returncode == 0 else None

    # -- cleanup --
    def teardown(self):
        errors = []
        if self.neutron:
            for fn, args in reversed(self.cleanups):
                try:
                    fn(*args)
                except Exception as e:          # keep going: everything must go
                    errors.append(f"{fn.__name__}{args}: {e}")
            # let the agents take their data plane down
            try:
                wait_for(lambda: not any(ns_exists(f"qrouter-{r}") for r in self.router_ids)
                         and not any(ns_exists(f"qdhcp-{n}") for n in self.network_ids),
                         timeout=15, what="the agents' cleanup")
            except AssertionError as e:
                errors.append(str(e))
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            if p.stdout:
                p.stdout.close()
        if self.metadata:
            self.metadata.close()
        if self.kumo:
            self.kumo.stop()
        # whatever is left that carries this run's ids
        leftovers = ([f"qrouter-{r}" for r in self.router_ids]
                     + [f"qdhcp-{n}" for n in self.network_ids] + self.namespaces)
        for ns in leftovers:
            if not ns_exists(ns):
                continue
            if ns.startswith("qdhcp-"):
                # dnsmasq of this run's kumo lives on after it: stop it
                pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
                for pid in pids:
                    try:
                        os.kill(int(pid), 9)
                    except (ProcessLookupError, ValueError):
                        pass
            run("ip", "netns", "delete", ns, check=False)
        links = (self.host_links + ["tap" + p[:11] for p in self.port_ids]
                 + ["brq" + n[:11] for n in self.network_ids])
        for dev in links:
            if link_exists(dev):
                run("ip", "link", "del", dev, check=False)
        return errors


class DataplaneKumo(Kumo):
    """A kumo with the network agents on, mapping physnet "public" to the test's veth."""

    def __init__(self, *a, world, **kw):
        super().__init__(*a, **kw)
        self.world = world
        self.network_port = free_port()
        self.network_url = f"http://127.0.0.1:{self.network_port}"

    def write_config(self):
        super().write_config()
        w = self.world
        with open(self.conf, "a") as f:
            f.write(
                "\n[network]\n"
                f"connection = {self.net_db_url()}\n"
                f"port = {self.network_port}\n"
                "workers = 8\n"
                "agents = true\n"
                f"physical_interface_mappings = public:{w.ext_dev}\n"
                "resync_interval = 3\n"
                "report_interval = 2\n"
                "agent_batch_ms = 50\n"
                f"metadata_proxy_shared_secret = {w.secret}\n"
                "nova_metadata_host = 127.0.0.1\n"
                f"nova_metadata_port = {w.metadata.port}\n"
            )

    def net_db_url(self):
        """Its own SQLite file, or the MySQL/MariaDB database of the run."""
        if self.db_url.startswith("sqlite:///"):
            return f"sqlite:///{self.dir / 'network.db'}"
        return self.db_url

    def start(self):
        super().start()
        wait_for(lambda: requests.get(self.network_url + "/", timeout=1).status_code == 200,
                 timeout=30, what="the network API")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    binary = _kumo_bin()
    if not binary.exists():
        pytest.skip(f"kumo binary not found at {binary} (set KUMO_BIN)")
    tmp = tmp_path_factory.mktemp("dataplane")
    w = World(tmp)
    url = os.environ.get("KUMO_TEST_DB_URL")
    scratch = ScratchMysql(url) if url and url.startswith("mysql") else None
    try:
        db_url = scratch.__enter__() if scratch else f"sqlite:///{tmp / 'identity.db'}"
        w.metadata = MetadataStandIn()
        w.make_external()
        k = DataplaneKumo(binary, tmp, free_port(), db_url, world=w)
        k.command = "all"
        w.kumo = k
        k.write_config()
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        tok = k.token(k.admin_user, k.admin_password, project=k.admin_project)
        w.neutron = Neutron(k.network_url, tok)
        w.project_id = requests.get(k.url + "/v3/auth/tokens", timeout=10, headers={
            "X-Auth-Token": tok, "X-Subject-Token": tok}).json()["token"]["project"]["id"]
        yield w
    finally:
        errors = w.teardown()
        if scratch:
            scratch.__exit__(None, None, None)
        if errors:
            print("dataplane cleanup problems:", *errors, sep="\n  ")


@pytest.fixture(scope="module")
def tenant(world):
    """Two tenant networks (A, B), a security group with no ingress rule, two
    ports on A with device ids (stand-ins for instances), one on B."""
    w = world
    sg = w.create("security-groups", "security_group", {"name": f"sg-{w.id}"})
    net_a = w.create("networks", "network", {"name": f"net-a-{w.id}"})
    net_b = w.create("networks", "network", {"name": f"net-b-{w.id}"})
    sub_a = w.create("subnets", "subnet", {"network_id": net_a["id"], "ip_version": 4,
                                           "cidr": CIDR_A, "name": f"sub-a-{w.id}"})
    sub_b = w.create("subnets", "subnet", {"network_id": net_b["id"], "ip_version": 4,
                                           "cidr": CIDR_B, "name": f"sub-b-{w.id}"})

    def port(net, sub, ip, name):
        return w.create("ports", "port", {
            "network_id": net["id"], "name": f"{name}-{w.id}", "security_groups": [sg["id"]],
            "fixed_ips": [{"subnet_id": sub["id"], "ip_address": ip}],
            "device_id": str(uuid.uuid4()), "device_owner": "compute:nova"})

    p1 = port(net_a, sub_a, "192.168.151.11", "p1")
    p2 = port(net_a, sub_a, "192.168.151.12", "p2")
    p3 = port(net_b, sub_b, "192.168.152.13", "p3")
    g1, g2, g3 = w.guest("g1", p1), w.guest("g2", p2), w.guest("g3", p3)
    for g in (g1, g2, g3):
        wait_for(lambda g=g: w.neutron.get(f"ports/{g['port']['id']}")["port"]["status"]
                 == "ACTIVE", timeout=20, what=f"port of {g['ns']} ACTIVE")
    return {"sg": sg, "net_a": net_a, "net_b": net_b, "sub_a": sub_a, "sub_b": sub_b,
            "g1": g1, "g2": g2, "g3": g3}


def dhcp_port_ip(w, network_id):
    ports = w.neutron.get("ports", params={"network_id": network_id,
                                           "device_owner": "network:dhcp"})["ports"]
    assert ports, "no DHCP port on the network"
    return ports[0]["fixed_ips"][0]["ip_address"]


def add_rule(w, sg, **rule):
    body = {"security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4"}
    body.update(rule)
    return w.neutron.post("security-group-rules", {"security_group_rule": body})


# ---------------------------------------------------------------------------

def test_dhcp_exact_ips_and_metadata_route(world, tenant):
    w = world
    for name, sub in (("g1", "sub_a"), ("g2", "sub_a"), ("g3", "sub_b")):
        g = tenant[name]
        lease = w.dhcp(g)
        assert lease["ip"] == g["ip"], lease
        assert lease["router"].split()[0] == tenant[sub]["gateway_ip"], lease
        dhcp_ip = dhcp_port_ip(w, tenant[sub]["network_id"])
        routes = lease["staticroutes"].split()
        pairs = list(zip(routes[0::2], routes[1::2]))
        assert ("169.254.169.254/32", dhcp_ip) in pairs, lease
        addrs = nsrun(g["ns"], "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
        assert g["ip"] + "/24" in addrs
        rt = nsrun(g["ns"], "ip", "route", "get", "169.254.169.254").stdout
        assert f"via {dhcp_ip}" in rt, rt


def test_metadata_proxy_signs_requests(world, tenant):
    w = world
    g1 = tenant["g1"]
    url = "http://169.254.169.254/openstack/latest/meta_data.json"
    out = wait_for(lambda: nsrun(g1["ns"], PY, "-c", HTTP_GET, url, check=False,
                                 timeout=20).stdout, timeout=20, what="the metadata proxy")
    assert json.loads(out) == {"uuid": "stand-in"}
    req = w.metadata.requests[-1]
    h = {k.lower(): v for k, v in req["headers"].items()}
    assert req["path"] == "/openstack/latest/meta_data.json"
    instance = g1["port"]["device_id"]
    assert h["x-instance-id"] == instance
    assert h["x-tenant-id"] == w.project_id
    assert h["x-forwarded-for"] == g1["ip"]
    want = hmac.new(w.secret.encode(), instance.encode(), hashlib.sha256).hexdigest()
    assert h["x-instance-id-signature"] == want


def test_icmp_only_when_a_rule_allows_it(world, tenant):
    w, g1, g2 = world, tenant["g1"], tenant["g2"]
    assert not w.ping(g1, g2["ip"], count=2), "ICMP passed without an ingress rule"
    add_rule(w, tenant["sg"], protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    wait_for(lambda: w.ping(g1, g2["ip"]), timeout=15, what="ping g1 -> g2 once ICMP is allowed")
    assert w.ping(g2, g1["ip"])


def test_ssh_port_only_when_a_rule_allows_it(world, tenant):
    w, g1, g2 = world, tenant["g1"], tenant["g2"]
    for g in (g1, g2, tenant["g3"]):
        w.peer_server(g["ns"], 22)
    assert w.tcp_peer(g1["ns"], g2["ip"], 22, timeout=2) is None, "TCP 22 passed without a rule"
    add_rule(w, tenant["sg"], protocol="tcp", port_range_min=22, port_range_max=22)
    seen = wait_for(lambda: w.tcp_peer(g1["ns"], g2["ip"], 22), timeout=15,
                    what="TCP 22 g1 -> g2 once allowed")
    assert seen == g1["ip"]


def test_spoofed_source_ip_is_dropped(world, tenant):
    w, g1, g2 = world, tenant["g1"], tenant["g2"]
    assert w.ping(g1, g2["ip"])
    spoofed = "192.168.151.250"
    nsrun(g1["ns"], "ip", "addr", "add", spoofed + "/32", "dev", "eth0")
    try:
        assert not w.ping(g1, g2["ip"], count=2, src=spoofed), "a spoofed source got through"
        assert w.ping(g1, g2["ip"]), "the real address stopped working"
    finally:
        nsrun(g1["ns"], "ip", "addr", "del", spoofed + "/32", "dev", "eth0", check=False)


@pytest.fixture(scope="module")
def router(world, tenant):
    w = world
    r = w.create("routers", "router", {"name": f"router-{w.id}"})
    for sub in ("sub_a", "sub_b"):
        w.neutron.put(f"routers/{r['id']}/add_router_interface",
                      {"subnet_id": tenant[sub]["id"]})
        # undone before the router is deleted
        w.on_cleanup(w.neutron.req, "PUT", f"routers/{r['id']}/remove_router_interface",
                     {"subnet_id": tenant[sub]["id"]})
    return r


def test_router_joins_two_subnets(world, tenant, router):
    w, g1, g3 = world, tenant["g1"], tenant["g3"]
    ns = f"qrouter-{router['id']}"
    wait_for(lambda: ns_exists(ns), timeout=15, what=ns)
    links = run("ip", "-n", ns, "-o", "link", "show").stdout
    ports = w.neutron.get("ports", params={"device_id": router["id"]})["ports"]
    assert len(ports) == 2
    for p in ports:
        assert f"qr-{p['id'][:11]}" in links
    wait_for(lambda: w.ping(g1, g3["ip"]), timeout=20, what="ping g1 -> g3 through the router")
    assert w.ping(g3, g1["ip"])
    assert w.tcp_peer(g3["ns"], g1["ip"], 22) == g3["ip"], "routed traffic must not be NATed"


@pytest.fixture(scope="module")
def external(world):
    w = world
    net = w.create("networks", "network", {
        "name": f"ext-{w.id}", "router:external": True,
        "provider:network_type": "flat", "provider:physical_network": "public"})
    sub = w.create("subnets", "subnet", {
        "network_id": net["id"], "ip_version": 4, "cidr": EXT_CIDR, "gateway_ip": EXT_GW,
        "enable_dhcp": False, "name": f"ext-sub-{w.id}",
        "allocation_pools": [{"start": "198.51.100.10", "end": "198.51.100.99"}]})
    w.peer_server(w.ext_ns, 8080)
    return {"net": net, "sub": sub}


def test_snat_to_the_external_network(world, tenant, router, external):
    w, g1 = world, tenant["g1"]
    r = w.neutron.put(f"routers/{router['id']}", {"router": {"external_gateway_info": {
        "network_id": external["net"]["id"]}}})["router"]
    w.on_cleanup(w.neutron.req, "PUT", f"routers/{router['id']}",
                 {"router": {"external_gateway_info": {}}})
    gw_ip = r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    ns = f"qrouter-{router['id']}"
    wait_for(lambda: gw_ip in run("ip", "-n", ns, "-o", "addr").stdout, timeout=15,
             what="the gateway address in the router")
    wait_for(lambda: w.ping(g1, EXT_GW), timeout=20, what="ping g1 -> external")
    assert w.tcp_peer(g1["ns"], EXT_GW, 8080) == gw_ip, "the external side must see the router"
    assert w.tcp_peer(tenant["g3"]["ns"], EXT_GW, 8080) == gw_ip


def test_floating_ip_reaches_the_guest(world, tenant, router, external):
    w, g1, g2 = world, tenant["g1"], tenant["g2"]
    fip = w.create("floatingips", "floatingip", {
        "floating_network_id": external["net"]["id"], "port_id": g1["port"]["id"]})
    addr = fip["floating_ip_address"]
    assert fip["fixed_ip_address"] == g1["ip"]
    wait_for(lambda: w.neutron.get(f"floatingips/{fip['id']}")["floatingip"]["status"]
             == "ACTIVE", timeout=20, what="floating IP ACTIVE")
    wait_for(lambda: w.ping(w.ext_ns, addr), timeout=20, what="ping external -> floating IP")
    # DNAT without SNAT: the guest sees the external caller, and vice versa
    assert w.tcp_peer(w.ext_ns, addr, 22) == EXT_GW
    assert w.tcp_peer(g1["ns"], EXT_GW, 8080) == addr
    # another guest behind the router reaches it through its floating IP (hairpin)
    assert w.tcp_peer(g2["ns"], addr, 22) is not None
    # the external side answers ARP for it from the router's gateway port
    neigh = run("ip", "-n", w.ext_ns, "neigh", "show", addr).stdout
    gw_port = w.neutron.get("ports", params={"device_id": router["id"],
                                             "device_owner": "network:router_gateway"})["ports"]
    assert gw_port and gw_port[0]["mac_address"] in neigh.lower(), neigh
    # disassociated: gone from the outside, DOWN
    w.neutron.put(f"floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    wait_for(lambda: not w.ping(w.ext_ns, addr), timeout=20, what="floating IP unreachable")
    wait_for(lambda: w.neutron.get(f"floatingips/{fip['id']}")["floatingip"]["status"]
             == "DOWN", timeout=20, what="floating IP DOWN")
    assert w.tcp_peer(g1["ns"], EXT_GW, 8080) == \
        w.neutron.get(f"routers/{router['id']}")["router"]["external_gateway_info"][
            "external_fixed_ips"][0]["ip_address"]


def test_router_removal_cleans_its_namespace(world, tenant, router, external):
    w = world
    ns = f"qrouter-{router['id']}"
    assert ns_exists(ns)
    w.neutron.req("PUT", f"routers/{router['id']}", {"router": {"external_gateway_info": {}}},
                  expect=200)
    for sub in ("sub_a", "sub_b"):
        w.neutron.req("PUT", f"routers/{router['id']}/remove_router_interface",
                      {"subnet_id": tenant[sub]["id"]}, expect=200)
    wait_for(lambda: not ns_exists(ns), timeout=20, what=f"{ns} removed")
    assert not w.ping(tenant["g1"], tenant["g3"]["ip"], count=1)
