"""The compute metadata API (issue 6): what a guest gets from 169.254.169.254
through the network service's metadata proxy, checked directly on the
metadata port with the headers that proxy sends.

A kumo of its own runs `all` with a [metadata] port and a shared secret.
The instances are rows written straight into its SQLite compute.db (an
instance, its metadata, its ports in the network info cache), so no agent or
VM is needed; the keypair and the networks are real (compute and network
APIs), so meta_data.json's "keys" and network_data.json's subnets come from
where they would.  The requests carry X-Instance-ID, X-Tenant-ID,
X-Forwarded-For and X-Instance-ID-Signature, as
src/network/agent/metadata.c makes them, and the tests then forge, drop or
change each of them.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import Kumo, _kumo_bin, free_port

SECRET = "md-secret-" + uuid.uuid4().hex[:8]
USER_DATA = b"#!/bin/sh\necho hello from user data\n\x00\x01binary tail\n"

EC2_KEYS = ["ami-id", "ami-launch-index", "ami-manifest-path", "block-device-mapping/",
            "hostname", "instance-action", "instance-id", "instance-type", "local-hostname",
            "local-ipv4", "placement/", "public-hostname", "public-ipv4", "public-keys/",
            "reservation-id", "security-groups"]


class MetadataKumo(Kumo):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.md_port = free_port()
        self.md_url = f"http://127.0.0.1:{self.md_port}"

    def write_config(self):
        super().write_config()
        with open(self.conf, "a") as f:
            f.write("\n[metadata]\n"
                    f"port = {self.md_port}\n"
                    "workers = 8\n"
                    "\n[compute]\n"
                    f"metadata_proxy_shared_secret = {SECRET}\n")

    def start(self):
        super().start()
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                requests.get(self.md_url + "/", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the metadata API did not start:\n" + self.output())


@pytest.fixture(scope="module")
def mdk():
    binary = _kumo_bin()
    if not binary.exists():
        pytest.skip(f"kumo binary not found at {binary} (set KUMO_BIN)")
    tmp = Path(tempfile.mkdtemp(prefix="kumo-md-"))
    k = MetadataKumo(binary, tmp, free_port(), f"sqlite:///{tmp / 'identity.db'}")
    k.command = "all"
    k.write_config()
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        yield k
    finally:
        k.stop()
        if not os.environ.get("KUMO_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


def sign(instance_id, secret=SECRET):
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


class World:
    """A project's instance with two ports (one on a DHCP network with a
    floating IP, one on a static network), server metadata, user data and a
    keypair; and a second instance without key or user data."""


@pytest.fixture(scope="module")
def world(mdk):
    w = World()
    r = mdk.token_response(mdk.admin_user, mdk.admin_password, project=mdk.admin_project)
    assert r.status_code == 201, r.text
    tok = r.headers["X-Subject-Token"]
    w.user_id = r.json()["token"]["user"]["id"]
    w.project_id = r.json()["token"]["project"]["id"]
    h = {"X-Auth-Token": tok}
    net = f"http://127.0.0.1:{mdk.network_port}/v2.0"

    def post(url, body):
        rr = requests.post(url, json=body, headers=h, timeout=30)
        assert rr.status_code in (200, 201), f"{url}: {rr.status_code} {rr.text}"
        return rr.json()

    w.net_a = post(f"{net}/networks", {"network": {"name": "md-a"}})["network"]
    w.sub_a = post(f"{net}/subnets", {"subnet": {
        "network_id": w.net_a["id"], "ip_version": 4, "cidr": "10.90.0.0/24",
        "dns_nameservers": ["10.90.0.53"]}})["subnet"]
    w.net_b = post(f"{net}/networks", {"network": {"name": "md-b"}})["network"]
    w.sub_b = post(f"{net}/subnets", {"subnet": {
        "network_id": w.net_b["id"], "ip_version": 4, "cidr": "10.91.0.0/16",
        "gateway_ip": "10.91.0.1", "enable_dhcp": False, "dns_nameservers": ["9.9.9.9"],
        "host_routes": [{"destination": "192.168.7.0/24", "nexthop": "10.91.0.254"}]}})["subnet"]

    # a real keypair (compute API), imported from ssh-keygen
    kdir = Path(tempfile.mkdtemp(prefix="kumo-md-key-"))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "md-test",
                    "-f", str(kdir / "id")], check=True)
    w.pubkey = (kdir / "id.pub").read_text().strip()
    shutil.rmtree(kdir, ignore_errors=True)
    rr = requests.post(mdk.compute_url + "/os-keypairs", headers=h, timeout=30,
                       json={"keypair": {"name": "mykey", "public_key": w.pubkey}})
    assert rr.status_code in (200, 201), rr.text

    w.id = str(uuid.uuid4())
    w.id2 = str(uuid.uuid4())
    w.other = str(uuid.uuid4())       # another project's instance
    w.gone = str(uuid.uuid4())        # a deleted instance
    w.ip_a, w.ip_b, w.fip = "10.90.0.5", "10.91.0.7", "172.24.4.10"
    w.port_a, w.port_b = str(uuid.uuid4()), str(uuid.uuid4())
    db = sqlite3.connect(mdk.dir / "compute.db", timeout=30)
    now = int(time.time() * 1e6)
    flavor = json.dumps({"id": "1", "name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1})

    def instance(iid, project, name, key=None, user_data=None, deleted=0):
        db.execute(
            "INSERT INTO cmp_instance (id, project_id, user_id, name, hostname, image_ref, "
            "flavor_id, flavor, vm_state, power_state, host, availability_zone, key_name, "
            "key_data, user_data, config_drive, reservation_id, launch_index, "
            "security_groups, created_at, updated_at, deleted) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (iid, project, w.user_id, name, name.lower(), "5f0e3b1c-0000-4000-8000-000000000001",
             "1", flavor, "active", 1, "h1", "nova", key, w.pubkey if key else None,
             base64.b64encode(user_data).decode() if user_data else None, "",
             "r-md000001", 0, json.dumps(["default", "web"]), now, now, deleted))

    def port(iid, pid, nid, nname, mac, ips, ord_):
        db.execute("INSERT INTO cmp_instance_port (instance_id, port_id, network_id, "
                   "network_name, mac, ips, preexisting, ord, tap, bridge, mtu) "
                   "VALUES (?,?,?,?,?,?,0,?,?,?,1450)",
                   (iid, pid, nid, nname, mac, json.dumps(ips), ord_, "tap" + pid[:11],
                    "brq" + nid[:11]))

    instance(w.id, w.project_id, "hello-instance", key="mykey", user_data=USER_DATA)
    port(w.id, w.port_a, w.net_a["id"], "md-a", "fa:16:3e:00:00:0a",
         [{"addr": w.ip_a, "version": 4, "type": "fixed", "subnet_id": w.sub_a["id"]},
          {"addr": w.fip, "version": 4, "type": "floating"}], 0)
    port(w.id, w.port_b, w.net_b["id"], "md-b", "fa:16:3e:00:00:0b",
         [{"addr": w.ip_b, "version": 4, "type": "fixed", "subnet_id": w.sub_b["id"]}], 1)
    db.execute("INSERT INTO cmp_instance_metadata VALUES (?,?,?)", (w.id, "role", "web"))
    db.execute("INSERT INTO cmp_instance_metadata VALUES (?,?,?)", (w.id, "tier", "1"))
    instance(w.id2, w.project_id, "Plain_VM")
    port(w.id2, str(uuid.uuid4()), w.net_a["id"], "md-a", "fa:16:3e:00:00:0c",
         [{"addr": "10.90.0.6", "version": 4, "type": "fixed", "subnet_id": w.sub_a["id"]}], 0)
    instance(w.other, "another-project-id", "theirs")
    port(w.other, str(uuid.uuid4()), w.net_a["id"], "md-a", "fa:16:3e:00:00:0d",
         [{"addr": "10.90.0.7", "version": 4, "type": "fixed"}], 0)
    instance(w.gone, w.project_id, "gone", deleted=1)
    port(w.gone, str(uuid.uuid4()), w.net_a["id"], "md-a", "fa:16:3e:00:00:0e",
         [{"addr": "10.90.0.8", "version": 4, "type": "fixed"}], 0)
    db.commit()
    db.close()
    return w


def get(mdk, path, iid=None, tenant=None, ip=None, sig=None, drop=(), method="GET"):
    """A request as the proxy makes it; drop: header names to leave out."""
    h = {}
    if iid:
        h = {"X-Instance-ID": iid, "X-Tenant-ID": tenant, "X-Forwarded-For": ip,
             "X-Instance-ID-Signature": sig if sig is not None else sign(iid)}
        for d in drop:
            h.pop(d, None)
    return requests.request(method, mdk.md_url + path, headers=h, timeout=10)


def md(mdk, w, path, iid=None, ip=None):
    iid = iid or w.id
    ip = ip or (w.ip_a if iid == w.id else "10.90.0.6")
    return get(mdk, path, iid, w.project_id, ip)


def text(r):
    assert r.status_code == 200, f"{r.url}: {r.status_code} {r.text}"
    return r.text


# ---- the signature, the tenant, the source address ----

def test_version_list_needs_no_headers(mdk):
    r = get(mdk, "/")
    assert r.status_code == 200
    assert r.text.split("\n") == ["1.0", "2007-01-19", "2007-03-01", "2007-08-29",
                                  "2007-10-10", "2007-12-15", "2008-02-01", "2008-09-01",
                                  "2009-04-04", "latest"]
    assert r.headers["Content-Type"].startswith("text/plain")


def test_missing_headers_are_400(mdk, world):
    r = get(mdk, "/latest/meta-data/")
    assert r.status_code == 400
    assert "X-Instance-ID header is missing from request." in r.text
    r = get(mdk, "/latest/meta-data/", world.id, world.project_id, world.ip_a,
            drop=("X-Tenant-ID",))
    assert r.status_code == 400 and "X-Tenant-ID header is missing" in r.text


def test_missing_or_forged_signature_is_403(mdk, world):
    w = world
    cases = [
        get(mdk, "/latest/meta-data/", w.id, w.project_id, w.ip_a,
            drop=("X-Instance-ID-Signature",)),
        get(mdk, "/latest/meta-data/", w.id, w.project_id, w.ip_a, sig="0" * 64),
        get(mdk, "/latest/meta-data/", w.id, w.project_id, w.ip_a, sig=sign(w.id, "wrong")),
        get(mdk, "/latest/meta-data/", w.id, w.project_id, w.ip_a, sig=sign(w.id2)),
        get(mdk, "/latest/meta-data/", w.id, w.project_id, w.ip_a, sig=sign(w.id)[:-1]),
        get(mdk, "/latest/meta-data/", w.id, w.project_id, w.ip_a, sig=sign(w.id).upper()),
        get(mdk, "/openstack/latest/meta_data.json", w.id, w.project_id, w.ip_a, sig=""),
    ]
    for r in cases:
        assert r.status_code == 403, r.text
        assert "Invalid proxy request signature." in r.text
        assert "hello-instance" not in r.text and w.ip_a not in r.text


def test_unknown_instance_wrong_tenant_wrong_source_are_404(mdk, world):
    w = world
    nobody = str(uuid.uuid4())
    cases = [
        get(mdk, "/latest/meta-data/", nobody, w.project_id, w.ip_a),
        get(mdk, "/latest/meta-data/", "not-a-uuid", w.project_id, w.ip_a),
        get(mdk, "/latest/meta-data/", w.id, "another-project-id", w.ip_a),   # tenant
        get(mdk, "/latest/meta-data/", w.other, w.project_id, "10.90.0.7"),   # not ours
        get(mdk, "/latest/meta-data/", w.id, w.project_id, "10.90.0.6"),      # other VM's IP
        get(mdk, "/latest/meta-data/", w.id, w.project_id, w.fip),            # floating
        get(mdk, "/latest/meta-data/", w.id, w.project_id, "10.90.0.5x"),
        get(mdk, "/latest/meta-data/", w.id, w.project_id, w.ip_a,
            drop=("X-Forwarded-For",)),
        get(mdk, "/latest/meta-data/", w.gone, w.project_id, "10.90.0.8"),    # deleted
    ]
    bodies = set()
    for r in cases:
        assert r.status_code == 404, r.text
        bodies.add(r.text)
        for secret in ("hello-instance", "mykey", w.ip_a, "another-project-id"):
            assert secret not in r.text
    assert len(bodies) == 1       # the same answer whatever the reason
    # the right tenant and source: the other project's instance answers
    r = get(mdk, "/latest/meta-data/hostname", w.other, "another-project-id", "10.90.0.7")
    assert text(r) == "theirs"


def test_methods_and_odd_paths(mdk, world):
    w = world
    assert md(mdk, w, "/latest/meta-data/nope").status_code == 404
    assert md(mdk, w, "/2099-01-01/meta-data/").status_code == 404
    assert md(mdk, w, "/latest/meta-data/hostname/extra").status_code == 404
    assert md(mdk, w, "/latest/meta-data/public-keys/0/_name").status_code == 404
    assert md(mdk, w, "/openstack/2099-01-01/meta_data.json").status_code == 404
    assert md(mdk, w, "/openstack/latest/nope.json").status_code == 404
    assert md(mdk, w, "/latest/../latest/meta-data/").status_code in (200, 404)
    r = get(mdk, "/latest/meta-data/", w.id, w.project_id, w.ip_a, method="POST")
    assert r.status_code == 405
    r = get(mdk, "/latest/meta-data/hostname", w.id, w.project_id, w.ip_a, method="HEAD")
    assert r.status_code == 200


# ---- the EC2 tree ----

@pytest.mark.parametrize("version", ["2009-04-04", "latest"])
def test_ec2_meta_data_listing(mdk, world, version):
    assert text(md(mdk, world, f"/{version}/meta-data/")).split("\n") == EC2_KEYS
    assert text(md(mdk, world, f"/{version}")) == "meta-data/\nuser-data"
    assert text(md(mdk, world, f"/ec2/{version}/meta-data/")).split("\n") == EC2_KEYS


def test_ec2_leaves(mdk, world):
    w = world

    def leaf(k):
        return text(md(mdk, w, f"/2009-04-04/meta-data/{k}"))

    assert leaf("hostname") == "hello-instance"
    assert leaf("local-hostname") == "hello-instance"
    assert leaf("public-hostname") == "hello-instance"
    assert leaf("instance-id") == "i-" + w.id.replace("-", "")[:8]
    assert leaf("ami-id") == "ami-5f0e3b1c"
    assert leaf("ami-launch-index") == "0"
    assert leaf("ami-manifest-path") == "FIXME"
    assert leaf("instance-type") == "m1.tiny"
    assert leaf("instance-action") == "none"
    assert leaf("local-ipv4") == w.ip_a
    assert leaf("public-ipv4") == w.fip
    assert leaf("reservation-id") == "r-md000001"
    assert leaf("security-groups") == "default\nweb"
    assert leaf("placement/") == "availability-zone"
    assert leaf("placement/availability-zone") == "nova"
    assert leaf("block-device-mapping/") == "ami\nroot"
    assert leaf("block-device-mapping/root") == "/dev/vda"
    assert leaf("public-keys/") == "0=mykey"
    assert leaf("public-keys/0/") == "openssh-key"
    assert leaf("public-keys/0/openssh-key") == w.pubkey


def test_ec2_old_versions_have_fewer_keys(mdk, world):
    keys = text(md(mdk, world, "/1.0/meta-data/")).split("\n")
    assert "instance-type" not in keys and "placement/" not in keys
    assert "public-ipv4" not in keys and "hostname" in keys


def test_user_data_is_decoded(mdk, world):
    r = md(mdk, world, "/2009-04-04/user-data")
    assert r.status_code == 200 and r.content == USER_DATA
    r = md(mdk, world, "/openstack/latest/user_data")
    assert r.status_code == 200 and r.content == USER_DATA


def test_instance_without_key_or_user_data(mdk, world):
    w = world
    assert text(md(mdk, w, "/latest", iid=w.id2)) == "meta-data/"
    assert md(mdk, w, "/latest/user-data", iid=w.id2).status_code == 404
    keys = text(md(mdk, w, "/latest/meta-data/", iid=w.id2)).split("\n")
    assert keys == [k for k in EC2_KEYS if k != "public-keys/"]
    assert text(md(mdk, w, "/latest/meta-data/hostname", iid=w.id2)) == "plain_vm"
    assert text(md(mdk, w, "/latest/meta-data/public-ipv4", iid=w.id2)) == ""
    assert md(mdk, w, "/openstack/latest/user_data", iid=w.id2).status_code == 404
    assert "user_data" not in text(md(mdk, w, "/openstack/latest/", iid=w.id2))
    m = md(mdk, w, "/openstack/latest/meta_data.json", iid=w.id2).json()
    assert "public_keys" not in m and "keys" not in m and "meta" not in m


# ---- the OpenStack tree ----

def test_openstack_versions_and_listing(mdk, world):
    vs = text(md(mdk, world, "/openstack")).split("\n")
    assert vs[0] == "2012-08-10" and vs[-1] == "latest"
    assert {"2013-10-17", "2015-10-15", "2016-10-06"} <= set(vs)
    assert text(md(mdk, world, "/openstack/latest/")).split("\n") == [
        "meta_data.json", "user_data", "password", "vendor_data.json", "network_data.json",
        "vendor_data2.json"]
    assert text(md(mdk, world, "/openstack/2012-08-10")).split("\n") == [
        "meta_data.json", "user_data"]


def test_meta_data_json(mdk, world):
    w = world
    r = md(mdk, w, "/openstack/latest/meta_data.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    m = r.json()
    assert m["uuid"] == w.id
    assert m["name"] == "hello-instance" and m["hostname"] == "hello-instance"
    assert m["launch_index"] == 0 and m["availability_zone"] == "nova"
    assert m["project_id"] == w.project_id
    assert m["public_keys"] == {"mykey": w.pubkey}
    assert m["keys"] == [{"name": "mykey", "type": "ssh", "data": w.pubkey}]
    assert m["meta"] == {"role": "web", "tier": "1"}
    assert m["devices"] == []
    assert len(base64.b64decode(m["random_seed"])) == 512
    old = md(mdk, w, "/openstack/2012-08-10/meta_data.json").json()
    assert old["uuid"] == w.id and "random_seed" not in old and "project_id" not in old


def test_vendor_data_and_password(mdk, world):
    assert md(mdk, world, "/openstack/latest/vendor_data.json").json() == {}
    assert md(mdk, world, "/openstack/latest/vendor_data2.json").json() == {}
    assert md(mdk, world, "/openstack/2013-04-04/vendor_data.json").status_code == 404
    assert text(md(mdk, world, "/openstack/latest/password")) == ""


def test_network_data_json(mdk, world):
    w = world
    nd = md(mdk, w, "/openstack/latest/network_data.json").json()
    assert [ln["vif_id"] for ln in nd["links"]] == [w.port_a, w.port_b]
    la, lb = nd["links"]
    assert la == {"id": "tap" + w.port_a[:11], "vif_id": w.port_a, "type": "bridge",
                  "ethernet_mac_address": "fa:16:3e:00:00:0a", "mtu": 1450}
    na, nb = nd["networks"]
    assert na == {"id": "network0", "link": la["id"], "network_id": w.net_a["id"],
                  "type": "ipv4_dhcp"}
    assert nb["id"] == "network1" and nb["link"] == lb["id"] and nb["type"] == "ipv4"
    assert nb["ip_address"] == w.ip_b and nb["netmask"] == "255.255.0.0"
    assert nb["network_id"] == w.net_b["id"]
    assert {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.91.0.1"} in nb["routes"]
    assert {"network": "192.168.7.0", "netmask": "255.255.255.0",
            "gateway": "10.91.0.254"} in nb["routes"]
    assert nb["services"] == [{"type": "dns", "address": "9.9.9.9"}]
    assert {"type": "dns", "address": "10.90.0.53"} in nd["services"]
    assert {"type": "dns", "address": "9.9.9.9"} in nd["services"]


def test_concurrent_requests(mdk, world):
    """A booting guest's burst: many parallel requests all answered right."""
    import concurrent.futures as cf
    paths = ["/latest/meta-data/hostname", "/openstack/latest/meta_data.json",
             "/openstack/latest/network_data.json", "/latest/meta-data/public-keys/0/openssh-key"]
    with cf.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(lambda i: md(mdk, world, paths[i % 4]), range(200)))
    assert all(r.status_code == 200 for r in rs)
    assert {r.text for r in rs[0::4]} == {"hello-instance"}
