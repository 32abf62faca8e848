"""Reaching your VM (issue 6, acceptance 1): the seed's section 四 replayed
with real guests (QEMU; TCG here) and the real clients, checking what a user
sees.

A kumo of its own (compute_env.own_compute_env) maps two physical networks
to veth pairs made for this run, whose far ends sit in namespaces that play
the world outside the cloud:

  * physnet1 -> kr<id>p; its peer is eth0 in kr<id>n, "the LAN", holding the
    flat subnet's gateway and DNS address 192.168.56.2 (the seed's network);
  * public -> kr<id>x; its peer is eth0 in the namespace kr<id>x, "the
    outside", holding the external subnet's gateway 198.51.100.1.

The tests run in order, as the seed does:

  1. `neutron net-create flat --shared --provider:physical_network physnet1
     --provider:network_type flat`, its subnet (allocation pool, gateway,
     DNS), `ssh-keygen`, `nova keypair-add`, ICMP and TCP 22 in the default
     security group, `nova boot ... --key-name mykey hello-instance`; then from
     the LAN: ping, `ssh cirros@IP hostname` prints hello-instance, and
     `curl http://169.254.169.254/2009-04-04/meta-data/` inside the guest
     prints the seed's list (guest -> option 121 route -> the qdhcp
     namespace's metadata proxy -> the compute metadata API);
  2. a router between the tenant network and the external flat network, a
     floating IP (`openstack floating ip create`, `openstack server add
     floating ip`): ping and ssh from the outside, metadata still there, and
     `nova list` shows the floating IP (the agent's info-cache heal: <= 60 s);
  3. `nova boot --config-drive true` with the metadata proxy switched off
     ([network] enable_metadata_proxy = false, kumo restarted): the guest
     takes hostname and key from the config drive ("metadata source:
     config-drive" on its console) and ssh works; the first guest shows the
     switch is real (no metadata any more).

Everything gets unique names; the fixture deletes servers, floating IPs,
routers and networks through the API (also when a test fails), then the kumo
stops and its data plane is removed, then this module's namespaces and veths.
"""

import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from compute_env import ComputeKumo, own_compute_env, require_compute, wait_for

LAN_CIDR, LAN_GW = "192.168.56.0/24", "192.168.56.2"
POOL = ("192.168.56.100", "192.168.56.200")
EXT_CIDR, EXT_GW = "198.51.100.0/24", "198.51.100.1"

EC2_KEYS = ["ami-id", "ami-launch-index", "ami-manifest-path", "block-device-mapping/",
            "hostname", "instance-action", "instance-id", "instance-type", "local-hostname",
            "local-ipv4", "placement/", "public-hostname", "public-ipv4", "public-keys/",
            "reservation-id", "security-groups"]

# how long a guest may take, under TCG, from ACTIVE to answering ssh
GUEST_BOOT = 240


def run(*cmd, check=True, timeout=60, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def nsrun(ns, *cmd, **kw):
    return run("ip", "netns", "exec", ns, *cmd, **kw)


class Outside:
    """The namespaces and veths that play the LAN and the outside world."""

    def __init__(self):
        self.id = uuid.uuid4().hex[:6]
        self.lan_ns, self.lan_dev = f"kr{self.id}n", f"kr{self.id}p"
        self.ext_ns, self.ext_dev = f"kr{self.id}x", f"kr{self.id}x"
        self.namespaces = []
        self.links = []

    def _side(self, ns, dev, addr):
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self.links.append(dev)
        run("ip", "link", "set", dev, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "addr", "add", addr, "dev", "eth0")

    def make(self):
        self._side(self.lan_ns, self.lan_dev, LAN_GW + "/24")
        self._side(self.ext_ns, self.ext_dev, EXT_GW + "/24")

    def mappings(self):
        return f"physnet1:{self.lan_dev},public:{self.ext_dev}"

    def teardown(self):
        for ns in self.namespaces:
            if Path("/run/netns", ns).exists():
                for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
                    run("kill", "-9", pid, check=False)
                run("ip", "netns", "delete", ns, check=False)
        for dev in self.links:
            if Path("/sys/class/net", dev).exists():
                run("ip", "link", "del", dev, check=False)


class ReachKumo(ComputeKumo):
    """A compute kumo whose L2 agent maps physnet1 and public to this run's veths."""

    def __init__(self, *a, mappings, **kw):
        super().__init__(*a, **kw)
        self.network_conf["physical_interface_mappings"] = mappings


class Reach:
    """The cloud, the outside, the user's key, and what the tests made."""

    def __init__(self, env, outside, tmp):
        self.env = env
        self.out = outside
        self.tmp = Path(tmp)
        self.id = outside.id
        self.key = self.tmp / "id_rsa"
        self.keyname = f"mykey-{self.id}"
        self.flat_name = f"flat-{self.id}"
        self.flat_id = None
        self.ext_name = f"public-{self.id}"
        self.ext_id = None
        self.router = f"router-{self.id}"
        self.cleanups = []           # (fn, args), run most recent first
        self.servers = {}            # test name -> server id

    def cli(self, *args, cmd="openstack", **kw):
        return self.env.cli(*args, cmd=cmd, **kw)

    def cli_json(self, *args, cmd="openstack", **kw):
        return json.loads(self.cli(*args, "-f", "json", cmd=cmd, **kw).stdout)

    def on_cleanup(self, fn, *args):
        self.cleanups.append((fn, args))

    # -- the guest, as a user reaches it --
    def ping(self, ns, addr):
        return nsrun(ns, "ping", "-n", "-c", "1", "-W", "2", addr, check=False,
                     timeout=15).returncode == 0

    def ssh(self, ns, addr, command, timeout=30):
        return nsrun(ns, "ssh", "-i", self.key, "-o", "StrictHostKeyChecking=no",
                     "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                     "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
                     f"cirros@{addr}", command, check=False, timeout=timeout)

    def wait_ssh(self, ns, addr, sid, expect_host):
        """Poll until `ssh cirros@addr hostname` works; its output."""
        last = {}

        def attempt():
            r = self.ssh(ns, addr, "hostname")
            last["r"] = r
            return r.returncode == 0 and r.stdout.strip()
        try:
            host = wait_for(attempt, timeout=GUEST_BOOT, interval=3,
                            what=f"ssh cirros@{addr} from {ns}")
        except AssertionError as e:
            r = last.get("r")
            raise AssertionError(f"{e}\nlast ssh: {r and (r.returncode, r.stderr)}\n"
                                 f"{self.diagnose(sid)}") from None
        assert host == expect_host, (host, self.env.console(sid)[-3000:])
        return host

    def wait_ping(self, ns, addr, sid):
        try:
            wait_for(lambda: self.ping(ns, addr), timeout=GUEST_BOOT, interval=2,
                     what=f"ping {addr} from {ns}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnose(sid)}") from None

    def diagnose(self, sid):
        """What helps to see why a guest is unreachable."""
        out = [f"server: {self.env.show(sid)}"]
        out.append("ports: " + json.dumps(self.env.neutron.get(
            "v2.0/ports", params={"device_id": sid}).json()))
        out.append("floating IPs: " + json.dumps(self.env.neutron.get(
            "v2.0/floatingips").json()))
        for ns in [n.split()[0] for n in run("ip", "netns", "list").stdout.splitlines()
                   if n.startswith("qrouter-")]:
            if any(r["id"] in ns for r in self.env.neutron.get("v2.0/routers").json().get(
                    "routers", [])):
                out.append(f"{ns} addresses:\n" + run("ip", "-n", ns, "-o", "-4", "addr",
                                                       check=False).stdout)
                out.append(f"{ns} nft:\n" + nsrun(ns, "nft", "list", "ruleset",
                                                   check=False).stdout[-3000:])
        out.append("outside neighbours: " + run("ip", "-n", self.out.ext_ns, "neigh",
                                                check=False).stdout)
        out.append("console:\n" + self.env.console(sid)[-3000:])
        return "\n".join(out)

    def boot(self, name, net_id, *extra):
        """`nova boot` as the seed runs it; the server id once ACTIVE."""
        out = self.cli("boot", "--flavor", "m1.tiny", "--image", self.env.image_id,
                       "--nic", f"net-id={net_id}", "--security-group", "default",
                       "--key-name", self.keyname, *extra, name, cmd="nova").stdout
        sid = re.search(r"\|\s+id\s+\|\s+([0-9a-f-]{36})", out).group(1)
        self.env.servers.append(sid)
        self.env.wait(sid, "ACTIVE", timeout=300)
        return sid

    def addresses(self, sid):
        return self.env.show(sid)["addresses"]

    # -- tear-down through the API: servers, floating IPs, routers (networks: env) --
    def api_cleanup(self):
        errors = []
        for sid in list(self.env.servers):
            try:
                if self.env.show(sid) is not None:
                    self.env.delete(sid)
            except Exception as e:          # noqa: BLE001 - everything must go
                errors.append(f"server {sid}: {e}")
        for fn, args in reversed(self.cleanups):
            try:
                fn(*args)
            except Exception as e:          # noqa: BLE001
                errors.append(f"{getattr(fn, '__name__', fn)}{args}: {e}")
        if errors:
            print("reach cleanup problems:", *errors, sep="\n  ")


@pytest.fixture(scope="module")
def reach(tmp_path_factory):
    require_compute()
    outside = Outside()
    try:
        outside.make()
        with own_compute_env(ReachKumo, mappings=outside.mappings()) as env:
            r = Reach(env, outside, tmp_path_factory.mktemp("reach"))
            try:
                yield r
            finally:
                r.api_cleanup()
    finally:
        outside.teardown()


@pytest.fixture(scope="module")
def flat(reach):
    """The seed's flat network, keypair and security group rules."""
    r = reach
    out = r.cli("net-create", r.flat_name, "--shared", "--provider:physical_network",
                "physnet1", "--provider:network_type", "flat", cmd="neutron").stdout
    r.flat_id = re.search(r"\|\s+id\s+\|\s+([0-9a-f-]{36})", out).group(1)
    r.env.networks.append(r.flat_id)
    r.cli("subnet-create", r.flat_name, LAN_CIDR, "--name", f"{r.flat_name}-subnet",
          "--allocation-pool", f"start={POOL[0]},end={POOL[1]}", "--dns-nameserver", LAN_GW,
          "--gateway", LAN_GW, cmd="neutron")
    nets = r.cli("net-list", cmd="neutron").stdout
    assert r.flat_name in nets and "192.168.56.0/24" in nets, nets

    run("ssh-keygen", "-q", "-N", "", "-f", r.key)
    r.cli("keypair-add", "--pub-key", f"{r.key}.pub", r.keyname, cmd="nova")
    assert r.keyname in r.cli("keypair-list", cmd="nova").stdout

    r.cli("security", "group", "rule", "create", "--proto", "icmp", "default")
    r.cli("security", "group", "rule", "create", "--proto", "tcp", "--dst-port", "22",
          "default")
    return r


def test_hello_instance_on_the_flat_network(flat):
    r = flat
    sid = r.boot("hello-instance", r.flat_id)
    r.servers["hello"] = sid

    # nova list: ACTIVE, Running, flat-<id>=192.168.56.1xx
    listing = r.cli("list", cmd="nova").stdout
    row = next(line for line in listing.splitlines() if sid in line)
    assert "ACTIVE" in row and "Running" in row, row
    m = re.search(re.escape(r.flat_name) + r"=(192\.168\.56\.\d+)", row)
    assert m, row
    ip = m.group(1)
    assert 100 <= int(ip.rsplit(".", 1)[1]) <= 200, ip

    # from the LAN: ping, then ssh with the keypair once the guest is up
    r.wait_ping(r.out.lan_ns, ip, sid)
    r.wait_ssh(r.out.lan_ns, ip, sid, "hello-instance")

    # the metadata service, from inside the guest
    res = r.ssh(r.out.lan_ns, ip, "curl -s http://169.254.169.254/2009-04-04/meta-data/")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == EC2_KEYS, res.stdout
    for leaf, want in (("instance-id", None), ("local-ipv4", ip),
                       ("hostname", "hello-instance"),
                       ("public-keys/0/openssh-key", Path(f"{r.key}.pub").read_text().split()[1])):
        res = r.ssh(r.out.lan_ns, ip, f"curl -s http://169.254.169.254/2009-04-04/meta-data/{leaf}")
        assert res.returncode == 0 and res.stdout.strip(), (leaf, res.stdout, res.stderr)
        if want:
            assert want in res.stdout, (leaf, res.stdout)
    log = r.env.console(sid)
    assert "metadata source: metadata-service" in log, log[-3000:]
    r.servers["hello_ip"] = ip


def test_floating_ip_from_the_outside(flat):
    r = flat
    env = r.env
    ext = r.cli_json("network", "create", "--external", "--provider-network-type", "flat",
                     "--provider-physical-network", "public", r.ext_name)
    r.ext_id = ext["id"]
    env.networks.append(ext["id"])
    r.cli("subnet", "create", "--network", r.ext_name, "--subnet-range", EXT_CIDR,
          "--gateway", EXT_GW, "--no-dhcp", "--allocation-pool",
          "start=198.51.100.10,end=198.51.100.99", f"{r.ext_name}-subnet")
    router = r.cli_json("router", "create", r.router)
    r.on_cleanup(r.cli, "router", "delete", router["id"])
    r.cli("router", "set", "--external-gateway", r.ext_name, router["id"])
    r.on_cleanup(r.cli, "router", "unset", "--external-gateway", router["id"])
    r.cli("router", "add", "subnet", router["id"], env.subnet_id)
    r.on_cleanup(r.cli, "router", "remove", "subnet", router["id"], env.subnet_id)

    name = "fip-instance"
    server = r.cli_json("server", "create", "--flavor", "m1.tiny", "--image", env.image_id,
                        "--nic", f"net-id={env.network_id}", "--security-group", "default",
                        "--key-name", r.keyname, "--wait", name, timeout=360)
    sid = server["id"]
    env.servers.append(sid)
    assert server["status"] == "ACTIVE", server

    fip = r.cli_json("floating", "ip", "create", r.ext_name)
    r.on_cleanup(r.cli, "floating", "ip", "delete", fip["id"])
    addr = fip["floating_ip_address"]
    r.cli("server", "add", "floating", "ip", sid, addr)
    shown = r.cli_json("floating", "ip", "show", fip["id"])
    assert shown["port_id"] and shown["fixed_ip_address"].startswith("10.99."), shown

    r.wait_ping(r.out.ext_ns, addr, sid)
    r.wait_ssh(r.out.ext_ns, addr, sid, name)
    res = r.ssh(r.out.ext_ns, addr, "curl -s http://169.254.169.254/2009-04-04/meta-data/")
    assert res.returncode == 0 and res.stdout.split() == EC2_KEYS, (res.stdout, res.stderr)

    # nova list shows the floating IP once the agent healed its cache (<= 60 s)
    def listed():
        row = next(line for line in r.cli("list", cmd="nova").stdout.splitlines()
                   if sid in line)
        return addr in row and row
    row = wait_for(listed, timeout=90, interval=5, what="the floating IP in nova list")
    assert re.search(re.escape(env.network_name) + r"=10\.99\.\d+\.\d+, " + re.escape(addr),
                     row), row
    types = {a["addr"]: a["OS-EXT-IPS:type"] for a in r.addresses(sid)[env.network_name]}
    assert types.get(addr) == "floating", types
    # and so does the metadata service (it reads the same cache)
    res = r.ssh(r.out.ext_ns, addr,
                "curl -s http://169.254.169.254/2009-04-04/meta-data/public-ipv4")
    assert res.stdout.strip() == addr, res.stdout


def restart_with_network_option(k, key, value):
    """Restart the module's kumo with [network] key = value (None: the default)."""
    if value is None:
        k.network_conf.pop(key, None)
    else:
        k.network_conf[key] = value
    k.stop()
    k.write_config()
    k.start()


def test_config_drive_without_metadata_service(flat):
    r = flat
    k = r.env.kumo
    hello_ip = r.servers.get("hello_ip")
    ns = f"qdhcp-{r.flat_id}"
    wait_for(lambda: Path("/run/netns", ns).exists(), timeout=30, what=ns)
    # the operator's switch (Neutron's enable_isolated_metadata = false): no
    # metadata proxy, no 169.254.169.254 in the DHCP namespace, no route to it
    restart_with_network_option(k, "enable_metadata_proxy", "false")
    try:
        wait_for(lambda: "169.254.169.254" not in nsrun(ns, "ip", "-4", "addr").stdout,
                 timeout=60, what="169.254.169.254 gone from " + ns)
        if hello_ip:    # it is real: the first guest no longer gets metadata
            res = r.ssh(r.out.lan_ns, hello_ip,
                        "curl -s -f -m 5 http://169.254.169.254/2009-04-04/meta-data/")
            assert res.returncode != 0 and "ami-id" not in res.stdout, res.stdout

        sid = r.boot("cd-instance", r.flat_id, "--config-drive", "true")
        server = r.env.show(sid)
        assert server["config_drive"] in ("True", "true", True), server["config_drive"]
        ip = next(a["addr"] for a in r.addresses(sid)[r.flat_name])
        r.wait_ssh(r.out.lan_ns, ip, sid, "cd-instance")
        log = r.cli("console", "log", "show", sid).stdout
        assert "metadata source: config-drive" in log, log[-3000:]
        assert "metadata service: no answer" in log, log[-3000:]
        # the key came from the drive too (ssh above used it); the drive is there
        res = r.ssh(r.out.lan_ns, ip, "/sbin/blkid -L config-2 -o device")
        assert res.returncode == 0 and res.stdout.strip().startswith("/dev/"), (
            res.stdout, res.stderr)
    finally:
        restart_with_network_option(k, "enable_metadata_proxy", None)
