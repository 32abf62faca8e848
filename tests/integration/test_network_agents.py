"""The L2, DHCP and metadata agents (issue 4, data plane), with network
namespaces standing in for guests.

The module starts a kumo of its own with [network] agents = true.  Its
world, all named after a random run id <r>:
  * physnet1 maps to the host end kd<r>p of a veth whose other end sits in
    the namespace kd<r>u (an "upstream" host on the flat network);
  * guests are namespaces kd<r>g<n> with a veth whose host end is named
    tap<11 chars of the port id> (as libvirt names a VM's) and whose eth0
    has the port's MAC; busybox udhcpc configures them through our own event
    script (the lease is written to a file; /etc is never touched);
  * a stand-in for the compute metadata API on 127.0.0.1 that answers only
    requests whose X-Instance-ID-Signature is right (403 otherwise).

The tests run in order and build on one another: agents registered,
bridges and taps (port ACTIVE, flat uplink), DHCP (exact fixed IP, routes,
DNS, hostname), security groups (ICMP, TCP 22, remote groups), anti-spoofing
(IP, MAC, allowed address pairs), port security off, the metadata proxy,
batched reloads, VXLAN, admin-down ports, restart reconciliation while
traffic flows, and the teardown of a deleted network.  Finalizers remove
everything this run made, even after a failure.
"""

import hashlib
import hmac
import http.server
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import Kumo, _kumo_bin, free_port

TOOLS = ("ip", "nft", "dnsmasq", "udhcpc", "ping", "curl")


def _have(tool):
    return shutil.which(tool) or any(Path(d, tool).exists() for d in ("/usr/sbin", "/sbin"))


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges, nftables)"),
    pytest.mark.skipif(not all(_have(t) for t in TOOLS),
                       reason="needs " + ", ".join(TOOLS) + " (tools/install-deps.sh)"),
]

PY = "/usr/bin/python3"
NET = "10.231.{}.0/24"          # a /24 per network: NET.format(n)

UDHCPC_SCRIPT = r"""#!/bin/sh
# udhcpc event script of the agents test: record the lease, configure eth0.
case "$1" in
deconfig)
    ip link set "$interface" up
    ip -4 addr flush dev "$interface"
    ;;
bound|renew)
    {
        echo "ip=$ip"; echo "mask=$mask"; echo "router=$router"; echo "dns=$dns"
        echo "serverid=$serverid"; echo "staticroutes=$staticroutes"
        echo "hostname=$hostname"; echo "domain=$domain"; echo "mtu=$mtu"
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

TCP_SERVER = r"""
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

TCP_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
print(s.recv(200).decode().strip())
"""


# ---------------------------------------------------------------------------
# helpers

def run(*cmd, check=True, timeout=30):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def nsrun(ns, *cmd, **kw):
    return run("ip", "netns", "exec", ns, *cmd, **kw)


def wait_for(fn, timeout=20.0, interval=0.25, what="condition"):
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (AssertionError, requests.RequestException, subprocess.SubprocessError,
                KeyError, IndexError, OSError) as e:
            last = e
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f": {last}" if last else ""))
        time.sleep(interval)


def ns_exists(ns):
    return Path("/run/netns", ns).exists()


def link_exists(dev):
    return Path("/sys/class/net", dev).exists()


def master_of(dev):
    p = Path("/sys/class/net", dev, "master")
    return p.resolve().name if p.exists() else None


def dnsmasq_pids(state_dir, network_id):
    """Pids of the dnsmasq processes serving network_id for this kumo."""
    needle = f"--pid-file={state_dir}/dhcp/{network_id}/pid".encode()
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            args = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in args:
            pids.append(int(d.name))
    return pids


class Neutron:
    """Tiny client for /v2.0 with one token."""

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


class MetadataUpstream:
    """Stand-in for Nova's metadata API: checks the signature like Nova."""

    def __init__(self, secret):
        self.secret = secret
        self.seen = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                h = {k.lower(): v for k, v in self.headers.items()}
                outer.seen.append({"path": self.path, "headers": h})
                inst = h.get("x-instance-id", "")
                want = hmac.new(outer.secret.encode(), inst.encode(),
                                hashlib.sha256).hexdigest()
                if not inst or not hmac.compare_digest(want, h.get("x-instance-id-signature", "")):
                    self.send_response(403)
                    self.end_headers()
                    return
                body = f"instance={inst} tenant={h.get('x-tenant-id')}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class AgentsKumo(Kumo):
    """A kumo with the agents on; physnet1 is the test's veth."""

    def __init__(self, *a, world, **kw):
        super().__init__(*a, **kw)
        self.world = world
        self.network_url = f"http://127.0.0.1:{self.network_port}"
        self.agents = True

    def write_config(self):
        super().write_config()
        w = self.world
        text = self.conf.read_text().replace("agents = false\n", "")
        text += (
            "\n[network]\n"
            f"connection = sqlite:///{self.dir / 'network.db'}\n"
            f"agents = {'true' if self.agents else 'false'}\n"
            f"physical_interface_mappings = physnet1:{w.phys}\n"
            "resync_interval = 3\n"
            "report_interval = 2\n"
            "agent_batch_ms = 100\n"
            f"metadata_proxy_shared_secret = {w.secret}\n"
            f"nova_metadata_url = http://127.0.0.1:{w.upstream.port}\n"
        )
        self.conf.write_text(text)

    def start(self):
        super().start()
        wait_for(lambda: requests.get(self.network_url + "/", timeout=1).status_code == 200,
                 timeout=30, what="the network API")

    def restart(self, agents=True):
        self.stop()
        self.agents = agents
        self.write_config()
        self.start()


class World:
    def __init__(self, tmp):
        self.id = uuid.uuid4().hex[:6]
        self.tmp = Path(tmp)
        self.phys = f"kd{self.id}p"           # host end: physnet1
        self.up_ns = f"kd{self.id}u"          # the upstream host
        self.secret = "s3cret-" + uuid.uuid4().hex[:8]
        self.script = self.tmp / "udhcpc.sh"
        self.script.write_text(UDHCPC_SCRIPT)
        self.script.chmod(0o755)
        self.upstream = None
        self.kumo = None
        self.api = None
        self.project_id = None
        self.namespaces, self.links, self.procs = [], [], []
        self.cleanups = []
        self.network_ids, self.port_ids = [], []
        self.nguests = 0

    def ns(self, suffix):
        name = f"kd{self.id}{suffix}"
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def make_upstream(self):
        ns = self.ns("u")
        run("ip", "link", "add", self.phys, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self.links.append(self.phys)
        run("ip", "-n", ns, "link", "set", "eth0", "up")

    # API objects, deleted (most recent first) at the end
    def create(self, collection, member, body):
        obj = self.api.post(collection, {member: body})[member]
        self.cleanups.append(f"{collection}/{obj['id']}")
        if collection == "networks":
            self.network_ids.append(obj["id"])
        if collection == "ports":
            self.port_ids.append(obj["id"])
        return obj

    def port(self, net, sg=None, **extra):
        body = {"network_id": net["id"], "device_id": str(uuid.uuid4()),
                "device_owner": "compute:nova"}
        if sg is not None:
            body["security_groups"] = [sg["id"]]
        body.update(extra)
        return self.create("ports", "port", body)

    def guest(self, port, mac=None):
        self.nguests += 1
        ns = self.ns(f"g{self.nguests}")
        tap = "tap" + port["id"][:11]
        run("ip", "link", "add", tap, "type", "veth", "peer", "name", "eth0", "address",
            mac or port["mac_address"], "netns", ns)
        self.links.append(tap)
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "link", "set", tap, "up")
        return {"ns": ns, "tap": tap, "port": port, "ip": port["fixed_ips"][0]["ip_address"],
                "lease": self.tmp / f"lease-{ns}"}

    def spawn(self, *cmd):
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        return p

    def teardown(self):
        errors = []
        for path in reversed(self.cleanups):
            try:
                if self.api:
                    self.api.delete(path)
            except Exception as e:          # keep going: everything must go
                errors.append(f"DELETE {path}: {e}")
        if self.kumo and self.kumo.proc and self.kumo.proc.poll() is None:
            try:
                wait_for(lambda: not any(ns_exists(f"qdhcp-{n}") for n in self.network_ids),
                         timeout=15, what="the DHCP agent's cleanup")
            except AssertionError as e:
                errors.append(str(e))
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        if self.kumo:
            self.kumo.stop()
        if self.upstream:
            self.upstream.close()
        for n in self.network_ids:
            for pid in dnsmasq_pids(self.tmp, n):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for ns in self.namespaces + [f"qdhcp-{n}" for n in self.network_ids]:
            if ns_exists(ns):
                run("ip", "netns", "delete", ns, check=False)
        for dev in (self.links + ["tap" + p[:11] for p in self.port_ids]
                    + ["brq" + n[:11] for n in self.network_ids]):
            if link_exists(dev):
                run("ip", "link", "del", dev, check=False)
        # this cloud's firewall tables
        for family in ("bridge", "inet"):
            run("nft", "delete", "table", family, self.sg_table(), check=False)
        return errors

    def sg_table(self):
        """This cloud's nft tables: kumo-sg-<FNV-1a of its state_dir>."""
        h = 2166136261
        for b in str(self.tmp).encode():
            h = ((h ^ b) * 16777619) & 0xFFFFFFFF
        return f"kumo-sg-{h:08x}"

    # -- guest actions --
    def dhcp(self, g, timeout=40):
        g["lease"].unlink(missing_ok=True)

        def attempt():
            r = nsrun(g["ns"], "env", f"LEASE_FILE={g['lease']}", "udhcpc", "-i", "eth0",
                      "-f", "-q", "-n", "-t", "4", "-T", "1", "-O", "staticroutes",
                      "-O", "mtu", "-s", self.script, check=False, timeout=30)
            return r.returncode == 0 and g["lease"].exists()
        wait_for(attempt, timeout=timeout, interval=0.5, what=f"a lease in {g['ns']}")
        return dict(line.partition("=")[::2] for line in g["lease"].read_text().splitlines())

    def ping(self, g, addr, count=1, wait=1, src=None):
        ns = g["ns"] if isinstance(g, dict) else g
        cmd = ["ping", "-n", "-c", str(count), "-W", str(wait)]
        if src:
            cmd += ["-I", src]
        return nsrun(ns, *cmd, addr, check=False, timeout=count * wait + 10).returncode == 0

    def server(self, g, port):
        p = self.spawn("ip", "netns", "exec", g["ns"], PY, "-c", TCP_SERVER, port)
        assert p.stdout.readline().strip() == "ready"
        return p

    def connect(self, g, addr, port, timeout=1.5):
        r = nsrun(g["ns"], PY, "-c", TCP_CLIENT, addr, port, timeout, check=False,
                  timeout=timeout + 10)
        return r.stdout.strip() if r.returncode == 0 else None


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    binary = _kumo_bin()
    if not binary.exists():
        pytest.skip(f"kumo binary not found at {binary} (set KUMO_BIN)")
    tmp = tmp_path_factory.mktemp("agents")
    w = World(tmp)
    try:
        w.upstream = MetadataUpstream(w.secret)
        w.make_upstream()
        k = AgentsKumo(binary, tmp, free_port(), f"sqlite:///{tmp / 'identity.db'}", world=w)
        k.command = "all"
        w.kumo = k
        k.write_config()
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        r = k.token_response(k.admin_user, k.admin_password, project=k.admin_project)
        assert r.status_code == 201, r.text
        w.api = Neutron(k.network_url, r.headers["X-Subject-Token"])
        w.project_id = r.json()["token"]["project"]["id"]
        yield w
    finally:
        errors = w.teardown()
        if errors:
            print("agents test cleanup problems:", *errors, sep="\n  ")


@pytest.fixture(scope="module")
def flat(world):
    """A flat network on physnet1 with a DHCP subnet; an SG with no ingress
    rule; two guests on ports of that SG."""
    w = world
    net = w.create("networks", "network", {
        "name": f"flat-{w.id}", "provider:network_type": "flat",
        "provider:physical_network": "physnet1"})
    cidr = NET.format(1)
    sub = w.create("subnets", "subnet", {
        "network_id": net["id"], "ip_version": 4, "cidr": cidr, "name": f"flat-sub-{w.id}",
        "gateway_ip": "10.231.1.1", "dns_nameservers": ["192.0.2.53"],
        "allocation_pools": [{"start": "10.231.1.100", "end": "10.231.1.199"}]})
    sg = w.create("security-groups", "security_group", {"name": f"sg-{w.id}"})
    p1, p2 = w.port(net, sg), w.port(net, sg)
    g1, g2 = w.guest(p1), w.guest(p2)
    return {"net": net, "sub": sub, "sg": sg, "g1": g1, "g2": g2}


def port_status(w, pid):
    return w.api.get(f"ports/{pid}")["port"]["status"]


def dhcp_port(w, net_id):
    ports = w.api.get("ports", params={"network_id": net_id,
                                       "device_owner": "network:dhcp"})["ports"]
    return ports[0] if ports else None


def add_rule(w, sg, **rule):
    body = {"security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4"}
    body.update(rule)
    r = w.api.post("security-group-rules", {"security_group_rule": body})["security_group_rule"]
    w.cleanups.append(f"security-group-rules/{r['id']}")
    return r


# ---------------------------------------------------------------------------

def test_agents_report_heartbeats(world):
    db = world.kumo.dir / "network.db"

    def rows():
        with sqlite3.connect(db) as c:
            return {r[0]: r for r in c.execute(
                "SELECT agent_type, binary_name, host, topic, heartbeat_at, configurations "
                "FROM net_agent")}
    got = wait_for(lambda: len(rows()) >= 3 and rows(), what="agent rows")
    assert got["Linux bridge agent"][1] == "neutron-linuxbridge-agent"
    assert got["DHCP agent"][1] == "neutron-dhcp-agent"
    assert got["DHCP agent"][3] == "dhcp_agent"
    assert got["Metadata agent"][1] == "neutron-metadata-agent"
    assert "physnet1" in got["Linux bridge agent"][5]
    first = got["DHCP agent"][4]
    wait_for(lambda: rows()["DHCP agent"][4] > first, timeout=10, what="a newer heartbeat")
    r = world.api.req("GET", "agents")
    if r.status_code == 200:
        types = {a["agent_type"]: a for a in r.json()["agents"]}
        assert {"Linux bridge agent", "DHCP agent", "Metadata agent"} <= set(types)
        assert types["DHCP agent"]["alive"] is True


def test_taps_plugged_ports_active(world, flat):
    w = world
    br = "brq" + flat["net"]["id"][:11]
    for g in (flat["g1"], flat["g2"]):
        wait_for(lambda g=g: port_status(w, g["port"]["id"]) == "ACTIVE", what="port ACTIVE")
        assert master_of(g["tap"]) == br
        port = w.api.get(f"ports/{g['port']['id']}")["port"]
        assert port["binding:host_id"], port
    # the flat network's uplink is the interface physnet1 maps to
    wait_for(lambda: master_of(w.phys) == br, what=f"{w.phys} in {br}")
    # the host gets no address on the tenant bridge
    assert run("ip", "-o", "addr", "show", "dev", br).stdout.strip() == ""


def test_dhcp_gives_the_fixed_ip_routes_and_dns(world, flat):
    w = world
    dp = wait_for(lambda: dhcp_port(w, flat["net"]["id"]), what="the DHCP port")
    dhcp_ip = dp["fixed_ips"][0]["ip_address"]
    # the lowest free address of the pool (the guests' ports may have been first)
    taken = {flat["g1"]["ip"], flat["g2"]["ip"]}
    assert dhcp_ip == min((f"10.231.1.{i}" for i in range(100, 104)
                           if f"10.231.1.{i}" not in taken), key=lambda a: int(a.split(".")[3]))
    wait_for(lambda: port_status(w, dp["id"]) == "ACTIVE", what="DHCP port ACTIVE")
    ns = f"qdhcp-{flat['net']['id']}"
    assert ns_exists(ns)
    addrs = run("ip", "-n", ns, "-o", "addr").stdout
    assert f"{dhcp_ip}/24" in addrs and "169.254.169.254/16" in addrs
    for g in (flat["g1"], flat["g2"]):
        lease = w.dhcp(g)
        assert lease["ip"] == g["ip"], lease
        assert lease["router"].split()[0] == "10.231.1.1"
        assert lease["dns"].split() == ["192.0.2.53"]
        assert lease["hostname"] == "host-" + g["ip"].replace(".", "-"), lease
        routes = lease["staticroutes"].split()
        pairs = list(zip(routes[0::2], routes[1::2]))
        assert ("169.254.169.254/32", dhcp_ip) in pairs, lease
        assert ("0.0.0.0/0", "10.231.1.1") in pairs, lease
        rt = nsrun(g["ns"], "ip", "route", "get", "169.254.169.254").stdout
        assert f"via {dhcp_ip}" in rt
    # one dnsmasq for the network
    assert len(dnsmasq_pids(w.tmp, flat["net"]["id"])) == 1


def test_icmp_only_when_a_rule_allows_it(world, flat):
    w, g1, g2 = world, flat["g1"], flat["g2"]
    assert not w.ping(g1, g2["ip"], count=2)
    add_rule(w, flat["sg"], protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    wait_for(lambda: w.ping(g1, g2["ip"]), what="ICMP allowed")
    assert w.ping(g2, g1["ip"])


def test_tcp22_only_when_a_rule_allows_it(world, flat):
    w, g1, g2 = world, flat["g1"], flat["g2"]
    w.server(g2, 22)
    w.server(g2, 23)
    assert w.connect(g1, g2["ip"], 22) is None
    add_rule(w, flat["sg"], protocol="tcp", port_range_min=22, port_range_max=22)
    assert wait_for(lambda: w.connect(g1, g2["ip"], 22), what="TCP 22 allowed") == g1["ip"]
    assert w.connect(g1, g2["ip"], 23) is None


def test_remote_group_rule(world, flat):
    """TCP 2323 from members of the group only: the upstream host is not one."""
    w, g1, g2 = world, flat["g1"], flat["g2"]
    nsrun(w.up_ns, "ip", "addr", "replace", w_up_ip() + "/24", "dev", "eth0")
    w.server(g2, 2323)
    up = {"ns": w.up_ns}
    add_rule(w, flat["sg"], protocol="tcp", port_range_min=2323, port_range_max=2323,
             remote_group_id=flat["sg"]["id"])
    assert wait_for(lambda: w.connect(g1, g2["ip"], 2323), what="remote group") == g1["ip"]
    assert w.connect(up, g2["ip"], 2323) is None
    # ICMP (any source) does pass from the upstream host through the flat uplink
    assert w.ping(up, g2["ip"])


def test_spoofed_ip_and_mac_are_dropped(world, flat):
    w, g1, g2 = world, flat["g1"], flat["g2"]
    nsrun(g1["ns"], "ip", "addr", "add", "10.231.1.250/24", "dev", "eth0")
    assert w.ping(g1, g2["ip"], src=g1["ip"])
    assert not w.ping(g1, g2["ip"], src="10.231.1.250", count=2)
    # allowed address pairs make that address legitimate
    w.api.put(f"ports/{g1['port']['id']}",
              {"port": {"allowed_address_pairs": [{"ip_address": "10.231.1.250"}]}})
    wait_for(lambda: w.ping(g1, g2["ip"], src="10.231.1.250"), what="allowed address pair")
    w.api.put(f"ports/{g1['port']['id']}", {"port": {"allowed_address_pairs": []}})
    wait_for(lambda: not w.ping(g1, g2["ip"], src="10.231.1.250"), what="pair removed")
    nsrun(g1["ns"], "ip", "addr", "del", "10.231.1.250/24", "dev", "eth0")
    # another MAC on the guest's interface: nothing gets through
    mac = g1["port"]["mac_address"]
    nsrun(g1["ns"], "ip", "link", "set", "eth0", "address", "fa:16:3e:00:be:ef")
    nsrun(g1["ns"], "ip", "neigh", "flush", "all")
    try:
        assert not w.ping(g1, g2["ip"], count=2)
    finally:
        nsrun(g1["ns"], "ip", "link", "set", "eth0", "address", mac)
    wait_for(lambda: w.ping(g1, g2["ip"]), what="traffic with the right MAC")


def test_port_security_disabled_means_no_filtering(world, flat):
    w, g1 = world, flat["g1"]
    p3 = w.port(flat["net"], port_security_enabled=False, security_groups=[])
    g3 = w.guest(p3)
    wait_for(lambda: port_status(w, p3["id"]) == "ACTIVE", what="port 3 ACTIVE")
    lease = w.dhcp(g3)
    assert lease["ip"] == g3["ip"]
    w.server(g3, 2424)
    # g3 filters nothing: any port reaches it, and it may use any source address
    assert wait_for(lambda: w.connect(g1, g3["ip"], 2424), what="unfiltered") == g1["ip"]
    nsrun(g3["ns"], "ip", "addr", "add", "10.231.1.251/24", "dev", "eth0")
    assert w.ping(g3, w_up_ip(), src="10.231.1.251")
    flat["g3"] = g3


def w_up_ip():
    return "10.231.1.240"


def test_metadata_proxy(world, flat):
    w, g1 = world, flat["g1"]
    url = "http://169.254.169.254/latest/meta-data/instance-id"
    out = wait_for(lambda: nsrun(g1["ns"], "curl", "-sf", "-m", "5", url, check=False).stdout,
                   timeout=20, what="the metadata proxy")
    port = g1["port"]
    assert out == f"instance={port['device_id']} tenant={w.project_id}"
    seen = w.upstream.seen[-1]
    assert seen["path"] == "/latest/meta-data/instance-id"
    assert seen["headers"]["x-forwarded-for"] == g1["ip"]
    # a host that is no port of the network gets 404
    nsrun(w.up_ns, "ip", "addr", "replace", w_up_ip() + "/24", "dev", "eth0")
    nsrun(w.up_ns, "ip", "route", "replace", "169.254.169.254/32", "via",
          dhcp_port(w, flat["net"]["id"])["fixed_ips"][0]["ip_address"])
    code = nsrun(w.up_ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                 url, check=False).stdout
    assert code == "404"


def test_many_port_changes_are_batched(world, flat):
    """30 ports created back to back: few dnsmasq reloads, same process."""
    w = world
    net_id = flat["net"]["id"]
    log = w.tmp / "dhcp" / net_id / "dnsmasq.log"
    pids = dnsmasq_pids(w.tmp, net_id)
    reads_before = log.read_text().count("/host") if log.exists() else 0
    t0 = time.time()
    ports = [w.port(flat["net"], flat["sg"]) for _ in range(30)]
    hosts = w.tmp / "dhcp" / net_id / "host"
    for p in ports:
        wait_for(lambda p=p: p["mac_address"] in hosts.read_text(), timeout=15,
                 what="host entries")
    elapsed = time.time() - t0
    time.sleep(1)
    reloads = log.read_text().count("/host") - reads_before
    assert dnsmasq_pids(w.tmp, net_id) == pids, "dnsmasq was restarted"
    assert 1 <= reloads <= 12, f"{reloads} reloads for 30 ports"
    print(f"30 ports: {reloads} reloads, all served after {elapsed:.2f}s")
    for p in ports:
        w.api.delete(f"ports/{p['id']}")


def test_vxlan_network(world):
    w = world
    vni = 4000 + int(w.id[:3], 16) % 4000
    net = w.create("networks", "network", {
        "name": f"vx-{w.id}", "provider:network_type": "vxlan",
        "provider:segmentation_id": vni})
    sub = w.create("subnets", "subnet", {"network_id": net["id"], "ip_version": 4,
                                         "cidr": NET.format(2), "name": f"vx-sub-{w.id}"})
    sg = w.create("security-groups", "security_group", {"name": f"vx-sg-{w.id}"})
    add_rule(w, sg, protocol="icmp")
    a, b = w.guest(w.port(net, sg)), w.guest(w.port(net, sg))
    for g in (a, b):
        assert w.dhcp(g)["ip"] == g["ip"]
    assert w.ping(a, b["ip"])
    br = "brq" + net["id"][:11]
    vx = f"vxlan-{vni}"
    if link_exists(vx) and master_of(vx) == br:
        assert "vxlan id %d" % vni in run("ip", "-d", "link", "show", vx).stdout
    assert sub["gateway_ip"]


def test_vlan_network(world):
    """A VLAN network on physnet1 beside the flat one: bridged with the
    sub-interface <iface>.<vid> when the kernel has 802.1Q, else local only."""
    w = world
    vid = 100 + int(w.id[3:6], 16) % 3000
    net = w.create("networks", "network", {
        "name": f"vlan-{w.id}", "provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "provider:segmentation_id": vid})
    w.create("subnets", "subnet", {"network_id": net["id"], "ip_version": 4,
                                   "cidr": NET.format(4), "name": f"vlan-sub-{w.id}"})
    sg = w.create("security-groups", "security_group", {"name": f"vlan-sg-{w.id}"})
    add_rule(w, sg, protocol="icmp")
    a, b = w.guest(w.port(net, sg)), w.guest(w.port(net, sg))
    for g in (a, b):
        assert w.dhcp(g)["ip"] == g["ip"]
    assert w.ping(a, b["ip"])
    sub = f"{w.phys}.{vid}"
    if link_exists(sub):
        assert master_of(sub) == "brq" + net["id"][:11]
    # the flat network keeps its uplink
    assert master_of(w.phys) is not None


def test_dual_stack_dhcp(world):
    """A DHCPv6-stateful subnet next to an IPv4 one: one dnsmasq serving both,
    the DHCP port holding an address in each."""
    w = world
    net = w.create("networks", "network", {"name": f"ds-{w.id}"})
    w.create("subnets", "subnet", {"network_id": net["id"], "ip_version": 4,
                                   "cidr": NET.format(5)})
    v6 = w.create("subnets", "subnet", {
        "network_id": net["id"], "ip_version": 6, "cidr": "fd00:231:5::/64",
        "ipv6_address_mode": "dhcpv6-stateful", "ipv6_ra_mode": "dhcpv6-stateful"})
    g = w.guest(w.port(net))
    assert w.dhcp(g)["ip"] == g["ip"]

    def ready():
        dp = dhcp_port(w, net["id"])
        ips = {i["subnet_id"]: i["ip_address"] for i in dp["fixed_ips"]} if dp else {}
        if v6["id"] not in ips:
            return None
        pids = dnsmasq_pids(w.tmp, net["id"])
        if len(pids) != 1:
            return None
        args = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
        want = f"--dhcp-range=set:subnet-{v6['id']},fd00:231:5::,static,64,".encode()
        if not any(a.startswith(want) for a in args):
            return None
        return ips[v6["id"]]
    v6ip = wait_for(ready, what="DHCPv6 in the namespace")
    addrs = run("ip", "-n", f"qdhcp-{net['id']}", "-o", "addr").stdout
    assert f"{v6ip}/64" in addrs
    host = (w.tmp / "dhcp" / net["id"] / "host").read_text()
    v6port = [i for i in w.api.get(f"ports/{g['port']['id']}")["port"]["fixed_ips"]
              if i["subnet_id"] == v6["id"]]
    if v6port:
        assert f"[{v6port[0]['ip_address']}]" in host


def test_admin_down_port_goes_down(world, flat):
    w, g1, g2 = world, flat["g1"], flat["g2"]
    pid = g2["port"]["id"]
    w.api.put(f"ports/{pid}", {"port": {"admin_state_up": False}})
    wait_for(lambda: port_status(w, pid) == "DOWN", what="port DOWN")
    assert not w.ping(g1, g2["ip"], count=2)
    w.api.put(f"ports/{pid}", {"port": {"admin_state_up": True}})
    wait_for(lambda: port_status(w, pid) == "ACTIVE", what="port ACTIVE again")
    wait_for(lambda: w.ping(g1, g2["ip"]), what="traffic again")


def test_restart_reconciles_and_traffic_keeps_flowing(world, flat):
    """Stop the agents, change things through the API with agents off,
    start them again: the data plane follows the database, without a second
    dnsmasq, and pings between the guests never stop."""
    w, g1, g2 = world, flat["g1"], flat["g2"]
    k = w.kumo
    net_id = flat["net"]["id"]
    # a second network that will be deleted while the agents are off
    net2 = w.create("networks", "network", {"name": f"gone-{w.id}"})
    w.create("subnets", "subnet", {"network_id": net2["id"], "ip_version": 4,
                                   "cidr": NET.format(3)})
    p4 = w.port(net2)
    g4 = w.guest(p4)
    wait_for(lambda: port_status(w, p4["id"]) == "ACTIVE", what="port 4 ACTIVE")
    wait_for(lambda: ns_exists(f"qdhcp-{net2['id']}") and dnsmasq_pids(w.tmp, net2["id"]),
             what="DHCP for the second network")
    pids = dnsmasq_pids(w.tmp, net_id)
    assert len(pids) == 1

    pinger = w.spawn("ip", "netns", "exec", g1["ns"], "ping", "-n", "-i", "0.2", g2["ip"])
    time.sleep(1)
    k.restart(agents=False)           # the API without agents: the data plane stays up
    w.api.delete(f"ports/{p4['id']}")
    for s in w.api.get("subnets", params={"network_id": net2["id"]})["subnets"]:
        w.api.delete(f"subnets/{s['id']}")
    r = w.api.delete(f"networks/{net2['id']}")
    assert r.status_code == 204, r.text
    p5 = w.port(flat["net"], flat["sg"])
    assert dnsmasq_pids(w.tmp, net_id) == pids          # untouched while agents are off
    k.restart(agents=True)
    hosts = w.tmp / "dhcp" / net_id / "host"
    wait_for(lambda: p5["mac_address"] in hosts.read_text(), what="the new port's entry")
    wait_for(lambda: not ns_exists(f"qdhcp-{net2['id']}"), what="stale namespace removed")
    wait_for(lambda: not link_exists("brq" + net2["id"][:11]), what="stale bridge removed")
    assert dnsmasq_pids(w.tmp, net2["id"]) == []
    assert master_of(g4["tap"]) is None                 # its port is gone: unplugged
    time.sleep(1)
    assert dnsmasq_pids(w.tmp, net_id) == pids, "dnsmasq restarted or duplicated"
    pinger.send_signal(signal.SIGINT)
    out = pinger.communicate(timeout=10)[0]
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out
    sent, got = int(m.group(1)), int(m.group(2))
    assert sent > 10 and sent - got <= 2, out
    assert w.dhcp(g1)["ip"] == g1["ip"]


def test_deleting_the_network_tears_down_its_data_plane(world, flat):
    w = world
    net_id = flat["net"]["id"]
    for g in ("g1", "g2", "g3"):
        if g in flat:
            w.api.delete(f"ports/{flat[g]['port']['id']}")
    for p in w.api.get("ports", params={"network_id": net_id})["ports"]:
        if p["device_owner"] != "network:dhcp":
            w.api.delete(f"ports/{p['id']}")
    w.api.delete(f"subnets/{flat['sub']['id']}")
    wait_for(lambda: not ns_exists(f"qdhcp-{net_id}"), what="qdhcp namespace removed")
    wait_for(lambda: not dnsmasq_pids(w.tmp, net_id), what="dnsmasq stopped")
    assert dhcp_port(w, net_id) is None
    r = w.api.delete(f"networks/{net_id}")
    assert r.status_code == 204, r.text
    wait_for(lambda: not link_exists("brq" + net_id[:11]), what="bridge removed")
    assert master_of(w.phys) is None               # the uplink is released, untouched
    assert link_exists(w.phys)


def test_net_cleanup_script_removes_what_the_agents_left(world):
    """The agents leave the data plane up when kumo stops; tools/net-cleanup.sh
    takes this cloud's part down (and nothing else)."""
    w = world
    left = [n for n in w.network_ids if ns_exists(f"qdhcp-{n}")]
    assert left, "expected DHCP namespaces still up (the VXLAN/VLAN networks)"
    w.kumo.stop()
    for n in left:                       # the data plane outlives kumo
        assert ns_exists(f"qdhcp-{n}") and dnsmasq_pids(w.tmp, n)
    assert w.sg_table() in run("nft", "list", "tables").stdout
    script = Path(__file__).resolve().parents[2] / "tools" / "net-cleanup.sh"
    run("bash", script, w.tmp)
    for n in w.network_ids:
        assert not ns_exists(f"qdhcp-{n}")
        assert not link_exists("brq" + n[:11])
        assert dnsmasq_pids(w.tmp, n) == []
    assert w.sg_table() not in run("nft", "list", "tables").stdout
    assert link_exists(w.phys)           # mapped interfaces are never deleted
    w.api = None                         # nothing left to delete through the API
