"""The seed's network walk-through (networks and subnets), replayed with the
real clients: `neutron` (python-neutronclient, as the seed types it) and the
`openstack network/subnet` equivalents.

The module runs a Kumo of its own (`kumo all`, agents off, bootstrap with
the catalog), so physnet1 is free for the seed's flat network exactly as the
seed creates it:

    neutron net-create flat --shared --provider:physical_network physnet1 \
        --provider:network_type flat
    neutron subnet-create flat 192.168.56.0/24 --name flat-subnet \
        --allocation-pool start=192.168.56.100,end=192.168.56.200 \
        --dns-nameserver 192.168.56.2 --gateway 192.168.56.2
    neutron net-list
    neutron subnet-list

Ports, routers and security groups are replayed by their own CLI modules.
Tests run in file order and build on each other.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import Kumo, _kumo_bin, free_port

OPENSTACK = "/usr/bin/openstack"
NEUTRON = "/usr/bin/neutron"

pytestmark = pytest.mark.skipif(not (os.path.exists(OPENSTACK) and os.path.exists(NEUTRON)),
                                reason="openstackclient / neutronclient not installed")


@pytest.fixture(scope="module")
def cloud():
    binary = _kumo_bin()
    if not binary.exists():
        pytest.skip(f"kumo binary not found at {binary} (set KUMO_BIN)")
    tmpdir = Path(tempfile.mkdtemp(prefix="kumo-netcli-"))
    k = Kumo(binary, tmpdir, free_port(), f"sqlite:///{tmpdir / 'identity.db'}")
    k.command = "all"
    k.write_config()
    k.home = tmpdir / "home"
    k.home.mkdir()
    k.ids = {}
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        yield k
        k.stop()
        assert k.proc.returncode == 0, \
            f"kumo exited with status {k.proc.returncode} after SIGTERM:\n{k.output()}"
    finally:
        k.stop()
        if not os.environ.get("KUMO_TEST_KEEP"):
            shutil.rmtree(tmpdir, ignore_errors=True)


def env_for(cloud):
    """admin-openrc.sh"""
    e = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    e.update({"HOME": str(cloud.home), "OS_PROJECT_DOMAIN_ID": "default",
              "OS_USER_DOMAIN_ID": "default", "OS_PROJECT_NAME": "admin",
              "OS_TENANT_NAME": "admin", "OS_USERNAME": "admin",
              "OS_PASSWORD": cloud.admin_password, "OS_AUTH_URL": cloud.url + "/v3",
              "OS_IDENTITY_API_VERSION": "3", "OS_REGION_NAME": "RegionOne"})
    return e


def run(cloud, prog, *args, ok=True, fmt=None):
    cmd = [prog, *args]
    if fmt:
        cmd += ["-f", fmt]
    r = subprocess.run(cmd, env=env_for(cloud), capture_output=True, text=True, timeout=180,
                       stdin=subprocess.DEVNULL)
    if ok:
        assert r.returncode == 0, (f"{' '.join(cmd)} -> {r.returncode}\n"
                                   f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        if fmt == "json":
            return json.loads(r.stdout) if r.stdout.strip() else None
        return r.stdout
    return r


def neutron(cloud, *args, **kw):
    return run(cloud, NEUTRON, *args, **kw)


def osc(cloud, *args, **kw):
    return run(cloud, OPENSTACK, *args, **kw)


def parse_table(text):
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            rows.append([c.strip() for c in line[1:-1].split("|")])
    return rows


def show_table(text):
    rows = parse_table(text)
    assert rows and rows[0] == ["Field", "Value"], text
    return {r[0]: r[1] for r in rows[1:]}


def list_table(text):
    rows = parse_table(text)
    assert rows, text
    return [dict(zip(rows[0], r)) for r in rows[1:]]


# ---------------------------------------------------------------- the seed

def test_01_seed_net_create(cloud):
    out = neutron(cloud, "net-create", "flat", "--shared", "--provider:physical_network",
                  "physnet1", "--provider:network_type", "flat")
    t = show_table(out)
    assert t["name"] == "flat" and t["shared"] == "True"
    assert t["provider:network_type"] == "flat"
    assert t["provider:physical_network"] == "physnet1"
    assert t["status"] == "ACTIVE" and t["router:external"] == "False"
    cloud.ids["flat"] = t["id"]


def test_02_seed_subnet_create(cloud):
    out = neutron(cloud, "subnet-create", "flat", "192.168.56.0/24", "--name", "flat-subnet",
                  "--allocation-pool", "start=192.168.56.100,end=192.168.56.200",
                  "--dns-nameserver", "192.168.56.2", "--gateway", "192.168.56.2")
    t = show_table(out)
    assert t["name"] == "flat-subnet" and t["cidr"] == "192.168.56.0/24"
    assert t["gateway_ip"] == "192.168.56.2" and t["enable_dhcp"] == "True"
    assert json.loads(t["allocation_pools"]) == {"start": "192.168.56.100",
                                                 "end": "192.168.56.200"}
    assert t["dns_nameservers"] == "192.168.56.2"
    assert t["network_id"] == cloud.ids["flat"]
    cloud.ids["flat-subnet"] = t["id"]


def test_03_seed_net_list(cloud):
    rows = list_table(neutron(cloud, "net-list"))
    flat = [r for r in rows if r["name"] == "flat"]
    assert len(flat) == 1 and flat[0]["id"] == cloud.ids["flat"]
    assert cloud.ids["flat-subnet"] in flat[0]["subnets"]
    assert "192.168.56.0/24" in flat[0]["subnets"]


def test_04_seed_subnet_list(cloud):
    rows = list_table(neutron(cloud, "subnet-list"))
    s = [r for r in rows if r["name"] == "flat-subnet"]
    assert len(s) == 1 and s[0]["cidr"] == "192.168.56.0/24"
    assert "192.168.56.100" in s[0]["allocation_pools"]


def test_05_neutron_show_update(cloud):
    t = show_table(neutron(cloud, "net-show", "flat"))
    assert t["id"] == cloud.ids["flat"] and t["subnets"] == cloud.ids["flat-subnet"]
    neutron(cloud, "net-update", "flat", "--description", "seed flat network")
    t = show_table(neutron(cloud, "net-show", "flat"))
    assert t["description"] == "seed flat network"
    t = show_table(neutron(cloud, "subnet-show", "flat-subnet"))
    assert t["gateway_ip"] == "192.168.56.2"


def test_06_seed_flat_again_is_refused(cloud):
    r = neutron(cloud, "net-create", "flat2", "--provider:physical_network", "physnet1",
                "--provider:network_type", "flat", ok=False)
    assert r.returncode != 0
    assert "Physical network physnet1 is in use" in (r.stdout + r.stderr)


# ---------------------------------------------------------------- openstack CLI

def test_10_openstack_network_create(cloud):
    n = osc(cloud, "network", "create", "private", "--description", "tenant net", fmt="json")
    assert n["name"] == "private" and n["status"] == "ACTIVE"
    assert n["provider:network_type"] == "vxlan" or n.get("provider_network_type") == "vxlan"
    cloud.ids["private"] = n["id"]
    ext = osc(cloud, "network", "create", "public", "--external", "--provider-network-type",
              "flat", "--provider-physical-network", "physnet2", fmt="json")
    assert ext["router:external"] in (True, "External")
    cloud.ids["public"] = ext["id"]


def test_11_openstack_subnet_create(cloud):
    s = osc(cloud, "subnet", "create", "private-subnet", "--network", "private",
            "--subnet-range", "10.0.0.0/24", "--dns-nameserver", "8.8.8.8",
            "--allocation-pool", "start=10.0.0.10,end=10.0.0.100", fmt="json")
    assert s["cidr"] == "10.0.0.0/24" and s["gateway_ip"] == "10.0.0.1"
    assert s["network_id"] == cloud.ids["private"]
    cloud.ids["private-subnet"] = s["id"]
    s6 = osc(cloud, "subnet", "create", "private-v6", "--network", "private",
             "--ip-version", "6", "--subnet-range", "fd00:10::/64", "--ipv6-ra-mode", "slaac",
             "--ipv6-address-mode", "slaac", fmt="json")
    assert s6["ip_version"] == 6 and s6["ipv6_address_mode"] == "slaac"
    cloud.ids["private-v6"] = s6["id"]
    pub = osc(cloud, "subnet", "create", "public-subnet", "--network", "public",
              "--subnet-range", "203.0.113.0/24", "--no-dhcp", "--gateway", "203.0.113.1",
              fmt="json")
    assert pub["enable_dhcp"] is False


def test_12_openstack_list_show(cloud):
    nets = osc(cloud, "network", "list", fmt="json")
    names = {n["Name"] for n in nets}
    assert {"flat", "private", "public"} <= names
    ext = osc(cloud, "network", "list", "--external", fmt="json")
    assert [n["Name"] for n in ext] == ["public"]
    subnets = osc(cloud, "subnet", "list", "--network", "private", fmt="json")
    assert {s["Name"] for s in subnets} == {"private-subnet", "private-v6"}
    v6 = osc(cloud, "subnet", "list", "--ip-version", "6", fmt="json")
    assert [s["Name"] for s in v6] == ["private-v6"]
    n = osc(cloud, "network", "show", "private", fmt="json")
    assert n["id"] == cloud.ids["private"] and set(n["subnets"]) == {
        cloud.ids["private-subnet"], cloud.ids["private-v6"]}
    s = osc(cloud, "subnet", "show", "private-subnet", fmt="json")
    assert s["allocation_pools"] == [{"start": "10.0.0.10", "end": "10.0.0.100"}]


def test_13_openstack_set(cloud):
    osc(cloud, "network", "set", "private", "--name", "private2", "--mtu", "1400",
        "--disable")
    n = osc(cloud, "network", "show", "private2", fmt="json")
    assert n["mtu"] == 1400 and n["admin_state_up"] in (False, "DOWN")
    osc(cloud, "network", "set", "private2", "--name", "private", "--enable")
    osc(cloud, "subnet", "set", "private-subnet", "--dns-nameserver", "1.1.1.1",
        "--allocation-pool", "start=10.0.0.150,end=10.0.0.160", "--name", "private-subnet")
    s = osc(cloud, "subnet", "show", "private-subnet", fmt="json")
    assert set(s["dns_nameservers"]) == {"8.8.8.8", "1.1.1.1"}
    assert {"start": "10.0.0.150", "end": "10.0.0.160"} in s["allocation_pools"]
    osc(cloud, "network", "set", "private", "--tag", "blue")
    assert "blue" in osc(cloud, "network", "show", "private", fmt="json")["tags"]


def test_14_openstack_errors(cloud):
    r = osc(cloud, "subnet", "create", "dup", "--network", "private", "--subnet-range",
            "10.0.0.128/25", ok=False)
    assert r.returncode != 0 and "overlaps with another subnet" in r.stderr
    r = osc(cloud, "subnet", "create", "bad", "--network", "private", "--subnet-range",
            "10.0.300.0/24", ok=False)
    assert r.returncode != 0
    r = osc(cloud, "network", "show", "no-such-network", ok=False)
    assert r.returncode != 0


def test_15_openstack_delete(cloud):
    osc(cloud, "subnet", "delete", "private-v6")
    osc(cloud, "network", "delete", "private")       # takes its last subnet along
    names = {n["Name"] for n in osc(cloud, "network", "list", fmt="json")}
    assert "private" not in names
    assert "private-subnet" not in {s["Name"] for s in osc(cloud, "subnet", "list",
                                                           fmt="json")}
    neutron(cloud, "subnet-delete", "flat-subnet")
    neutron(cloud, "net-delete", "flat")
    osc(cloud, "network", "delete", "public")
    assert osc(cloud, "network", "list", fmt="json") == []
