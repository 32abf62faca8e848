"""A cloud that boots real virtual machines, for the compute tests.

`compute_env` (a session fixture, registered in conftest.py) starts a kumo
of its own with everything on: the network agents (bridges, dnsmasq), the
compute agent with the libvirt driver (QEMU; TCG on machines without
vmx/svm), the guest image built by tools/build-guest-image.sh uploaded as a
public image, and a tenant network with a DHCP subnet.  Tests boot servers
with env.boot(...) and get them ACTIVE; everything they boot is deleted at
the end, and the fixture checks that nothing is left behind: no libvirt
domain of this cloud, no instance directory, no tap, no port.

Needs root, a reachable libvirtd (tools/libvirt-setup.sh) and the guest
image (tools/build-guest-image.sh).  Without them the tests are skipped,
unless KUMO_REQUIRE_COMPUTE=1 (as `make check` sets), which turns that into
a failure: CI must not skip the real VMs silently.  KUMO_SKIP_VM_TESTS=1
skips them on purpose (`make check` boots them in its SQLite run only; the
MariaDB run repeats the API tests).

Names are unique per run (the kumo's state_dir is a fresh temporary
directory, so its instances path, cloud tag, bridges and namespaces are its
own); the finalizer removes them even when tests fail.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import REPO, Kumo, ScratchMysql, _kumo_bin, free_port

IMAGE = Path(os.environ.get("KUMO_GUEST_IMAGE",
                            REPO / "build" / "guest-image" / "kumo-cirros.qcow2"))
CIDR = "10.99.{}.0/24"


def _run(*cmd, check=True, timeout=60, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


def wait_for(fn, timeout=60.0, interval=0.5, what="condition"):
    """Poll fn() until it returns a truthy value; that value, or AssertionError."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (AssertionError, requests.RequestException, KeyError, IndexError) as e:
            last = e
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f": {last}" if last else ""))
        time.sleep(interval)


def virsh(*args, check=False):
    return _run("virsh", "-c", "qemu:///system", *args, check=check, timeout=60)


def libvirt_ok():
    if shutil.which("virsh") is None:
        return "virsh is not installed (tools/install-deps.sh)"
    r = virsh("version")
    if r.returncode != 0:
        return "libvirtd does not answer (tools/libvirt-setup.sh): " + r.stderr.strip()
    return None


def ensure_image():
    """The guest image, built when missing (fast when up to date)."""
    script = REPO / "tools" / "build-guest-image.sh"
    if script.exists() and "KUMO_GUEST_IMAGE" not in os.environ:
        r = _run("bash", script, IMAGE.parent, check=False, timeout=900)
        if r.returncode != 0:
            return f"tools/build-guest-image.sh failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    if not IMAGE.exists():
        return f"no guest image at {IMAGE}"
    return None


class ComputeKumo(Kumo):
    """A Kumo with the network agents and the compute agent (libvirt) on."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.network_agents = True
        self.network_conf = {"resync_interval": "3", "report_interval": "2",
                             "agent_batch_ms": "50"}
        self.compute_conf = {
            "agent": "true",
            "virt_driver": "libvirt",
            "sync_power_state_interval": "3",
            "report_interval": "2",
            "shutdown_timeout": "15",
        }


class ComputeEnv:
    def __init__(self, kumo):
        self.kumo = kumo
        self.id = uuid.uuid4().hex[:6]
        self.token = kumo.token(kumo.admin_user, kumo.admin_password, project=kumo.admin_project)
        self.nova = kumo.nova(self.token)
        self.glance = kumo.glance(self.token)
        self.neutron = kumo.neutron(self.token)
        self.project_id = requests.get(kumo.url + "/v3/auth/tokens", timeout=10, headers={
            "X-Auth-Token": self.token, "X-Subject-Token": self.token
        }).json()["token"]["project"]["id"]
        self.flavor = "1"                 # m1.tiny
        self.flavor_alt = "2"             # m1.small (resize target)
        self.image_id = None
        self.network_id = None
        self.subnet_id = None
        self.network_name = f"net-{self.id}"
        self.servers = []                 # ids booted through boot()
        self.images = []                  # image ids to delete
        self.networks = []                # network ids to delete (with their ports)

    # -- set-up --
    def upload_image(self, name="kumo-cirros"):
        r = self.glance.post("v2/images", json={
            "name": f"{name}-{self.id}", "disk_format": "qcow2", "container_format": "bare",
            "visibility": "public", "min_disk": 1})
        assert r.status_code == 201, r.text
        img = r.json()
        self.images.append(img["id"])
        with open(IMAGE, "rb") as f:
            r = self.glance.put(f"v2/images/{img['id']}/file", data=f,
                                headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
        return img["id"]

    def make_network(self, octet):
        r = self.neutron.post("v2.0/networks", json={"network": {"name": self.network_name}})
        assert r.status_code == 201, r.text
        net = r.json()["network"]
        self.networks.append(net["id"])
        r = self.neutron.post("v2.0/subnets", json={"subnet": {
            "network_id": net["id"], "ip_version": 4, "cidr": CIDR.format(octet),
            "name": f"sub-{self.id}"}})
        assert r.status_code == 201, r.text
        return net["id"], r.json()["subnet"]["id"]

    # -- servers --
    def create(self, name, expect=202, **kw):
        body = {"name": name, "imageRef": kw.pop("image", self.image_id),
                "flavorRef": kw.pop("flavor", self.flavor)}
        nets = kw.pop("networks", [{"uuid": self.network_id}])
        if nets is not None:
            body["networks"] = nets
        body.update(kw)
        r = self.nova.post("servers", json={"server": body})
        assert r.status_code == expect, f"create {name}: {r.status_code} {r.text}"
        if r.status_code == 202 and "server" in r.json():
            self.servers.append(r.json()["server"]["id"])
        return r.json()

    def boot(self, name, timeout=180, **kw):
        """Create a server and wait until it is ACTIVE; its detail view."""
        sid = self.create(name, **kw)["server"]["id"]
        return self.wait(sid, "ACTIVE", timeout=timeout)

    def show(self, sid):
        r = self.nova.get(f"servers/{sid}")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()["server"]

    def wait(self, sid, status, timeout=180):
        def check():
            s = self.show(sid)
            assert s is not None, f"server {sid} vanished"
            if s["status"] == "ERROR" and status != "ERROR":
                raise RuntimeError(f"server {sid} went to ERROR: {s.get('fault')}")
            return s if s["status"] == status and not s.get("OS-EXT-STS:task_state") else None
        return wait_for(check, timeout=timeout, interval=1, what=f"{sid} {status}")

    def delete(self, sid, timeout=120):
        r = self.nova.delete(f"servers/{sid}")
        assert r.status_code in (204, 404), r.text
        wait_for(lambda: self.show(sid) is None, timeout=timeout, interval=1,
                 what=f"{sid} deleted")

    def console(self, sid):
        r = self.nova.post(f"servers/{sid}/action", json={"os-getConsoleOutput": {}})
        return r.json().get("output", "") if r.status_code == 200 else ""

    # -- what a server leaves on the host --
    def domain_exists(self, sid):
        return virsh("dominfo", f"instance-{sid}").returncode == 0

    def instance_dir(self, sid):
        return self.kumo.dir / "instances" / sid

    def taps(self, sid):
        r = self.neutron.get("v2.0/ports", params={"device_id": sid})
        return ["tap" + p["id"][:11] for p in r.json().get("ports", [])]

    def leftovers(self, sid, taps=()):
        """What a deleted server still has: a list of strings (empty = clean)."""
        left = []
        if self.domain_exists(sid):
            left.append(f"domain instance-{sid}")
        if self.instance_dir(sid).exists():
            left.append(f"directory {self.instance_dir(sid)}")
        for t in taps:
            if Path("/sys/class/net", t).exists():
                left.append(f"tap {t}")
        ports = self.neutron.get("v2.0/ports", params={"device_id": sid}).json()["ports"]
        left += [f"port {p['id']}" for p in ports]
        return left

    def cli(self, *args, check=True, timeout=120, cmd="openstack"):
        """Run a real CLI (openstack, nova, ...) as the admin of this cloud."""
        r = subprocess.run([cmd, *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, env=self.kumo.cli_env())
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} {' '.join(map(str, args))} failed "
                                 f"({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    # -- tear-down --
    def teardown(self):
        errors = []
        for sid in self.servers:
            try:
                if self.show(sid) is not None:
                    self.delete(sid)
            except Exception as e:      # noqa: BLE001 - keep cleaning
                errors.append(f"server {sid}: {e}")
        for nid in self.networks:
            try:
                for p in self.neutron.get("v2.0/ports", params={"network_id": nid}).json().get(
                        "ports", []):
                    if not p["device_owner"].startswith("network:"):
                        self.neutron.delete(f"v2.0/ports/{p['id']}")
                self.neutron.delete(f"v2.0/networks/{nid}")
            except Exception as e:      # noqa: BLE001
                errors.append(f"network {nid}: {e}")
        for iid in self.images:
            try:
                self.glance.delete(f"v2/images/{iid}")
            except Exception as e:      # noqa: BLE001
                errors.append(f"image {iid}: {e}")
        # give the agents one pass to remove bridges / namespaces
        time.sleep(4)
        return errors


def _cleanup_host(env):
    """Remove whatever this run left on the host, API or not: its domains,
    then the data plane its network agents made (tools/net-cleanup.sh)."""
    for sid in env.servers:
        virsh("destroy", f"instance-{sid}")
        virsh("undefine", f"instance-{sid}", "--managed-save", "--nvram")
    _run("bash", REPO / "tools" / "net-cleanup.sh", env.kumo.dir, check=False)
    for nid in env.networks:
        ns = f"qdhcp-{nid}"
        if Path("/run/netns", ns).exists():
            _run("ip", "netns", "pids", ns, check=False)
            pids = _run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                _run("kill", pid, check=False)
            _run("ip", "netns", "delete", ns, check=False)
        br = "brq" + nid[:11]
        if Path("/sys/class/net", br).exists():
            _run("ip", "link", "delete", br, check=False)


@pytest.fixture(scope="session")
def compute_env():
    required = os.environ.get("KUMO_REQUIRE_COMPUTE") == "1"
    if os.environ.get("KUMO_SKIP_VM_TESTS") == "1":
        # make check boots the real VMs once, in the SQLite run
        pytest.skip("real-VM tests are off in this run (KUMO_SKIP_VM_TESTS=1)")

    def unavailable(why):
        if required:
            pytest.fail(f"compute environment unavailable: {why}")
        pytest.skip(f"compute environment unavailable: {why}")

    if os.geteuid() != 0:
        unavailable("needs root")
    binary = _kumo_bin()
    if not binary.exists():
        unavailable(f"kumo binary not found at {binary} (set KUMO_BIN)")
    why = libvirt_ok() or ensure_image()
    if why:
        unavailable(why)

    tmp = Path(tempfile.mkdtemp(prefix="kumo-cmp-"))
    url = os.environ.get("KUMO_TEST_DB_URL")
    scratch = ScratchMysql(url) if url and url.startswith("mysql") else None
    env = None
    k = None
    try:
        db_url = scratch.__enter__() if scratch else f"sqlite:///{tmp / 'identity.db'}"
        k = ComputeKumo(binary, tmp, free_port(), db_url)
        k.command = "all"
        k.write_config()
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        env = ComputeEnv(k)
        env.image_id = env.upload_image()
        env.network_id, env.subnet_id = env.make_network(100 + int(env.id[:2], 16) % 100)
        # the compute service of this host reports in
        wait_for(lambda: any(s["binary"] == "nova-compute" and s["state"] == "up"
                             for s in env.nova.get("os-services").json().get("services", [])),
                 timeout=60, what="nova-compute up")
        yield env
    finally:
        errors = env.teardown() if env else []
        if k:
            k.stop()
        if env:
            _cleanup_host(env)
        if scratch:
            scratch.__exit__(None, None, None)
        if errors:
            print("compute cleanup problems:", *errors, sep="\n  ")
        if not os.environ.get("KUMO_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kumo compute test dir kept: {tmp}")


# ---- helpers for modules that need a compute cloud of their own (added by H-reach for
# test_compute_reach.py; nothing above changed) ----

def compute_unavailable():
    """Why no compute cloud can run on this machine; None when one can."""
    if os.geteuid() != 0:
        return "needs root"
    binary = _kumo_bin()
    if not binary.exists():
        return f"kumo binary not found at {binary} (set KUMO_BIN)"
    return libvirt_ok() or ensure_image()


def require_compute():
    """Skip (or fail, with KUMO_REQUIRE_COMPUTE=1) when no compute cloud can run here."""
    why = compute_unavailable()
    if why:
        if os.environ.get("KUMO_REQUIRE_COMPUTE") == "1":
            pytest.fail(f"compute environment unavailable: {why}")
        pytest.skip(f"compute environment unavailable: {why}")


@contextlib.contextmanager
def own_compute_env(kumo_cls=ComputeKumo, **kumo_kw):
    """A ComputeEnv on a kumo of its own, built and torn down exactly as the
    compute_env fixture does (image uploaded, tenant network, nova-compute
    up; at the end servers, networks and images through the API, then the
    kumo stopped and its data plane removed).  kumo_cls is ComputeKumo or a
    subclass, called as kumo_cls(binary, tmpdir, port, db_url, **kumo_kw).
    For module-scoped fixtures that need another configuration (e.g.
    [network] physical_interface_mappings); call require_compute() first."""
    tmp = Path(tempfile.mkdtemp(prefix="kumo-cmp-"))
    url = os.environ.get("KUMO_TEST_DB_URL")
    scratch = ScratchMysql(url) if url and url.startswith("mysql") else None
    env = None
    k = None
    try:
        db_url = scratch.__enter__() if scratch else f"sqlite:///{tmp / 'identity.db'}"
        k = kumo_cls(_kumo_bin(), tmp, free_port(), db_url, **kumo_kw)
        k.command = "all"
        k.write_config()
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        env = ComputeEnv(k)
        env.image_id = env.upload_image()
        env.network_id, env.subnet_id = env.make_network(100 + int(env.id[:2], 16) % 100)
        wait_for(lambda: any(s["binary"] == "nova-compute" and s["state"] == "up"
                             for s in env.nova.get("os-services").json().get("services", [])),
                 timeout=60, what="nova-compute up")
        yield env
    finally:
        errors = env.teardown() if env else []
        if k:
            k.stop()
        if env:
            _cleanup_host(env)
        if scratch:
            scratch.__exit__(None, None, None)
        if errors:
            print("compute cleanup problems:", *errors, sep="\n  ")
        if not os.environ.get("KUMO_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kumo compute test dir kept: {tmp}")
