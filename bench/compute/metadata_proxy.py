"""bench/compute/metadata_proxy.py - the metadata API through the network
service's metadata proxy (run by bench/compute/metadata.sh when PROXY=1; root).

A `kumo all` of its own with the network agents on: a tenant network with a
DHCP subnet (so the DHCP agent makes qdhcp-<net> with 169.254.169.254 and the
metadata agent starts its proxy there), a port whose device_id is an instance
written into compute.db.  A "guest" namespace gets the port's address on a
veth whose other end is in the qdhcp namespace (a /32 route back to it), so
wrk run in the guest namespace reaches http://169.254.169.254 from the port's
fixed IP, exactly as a VM would: proxy lookup, signature, metadata API.

Prints "RESULT proxy-<name> <req/s> req/s p50 <lat>" lines and appends wrk's
output to $BENCH_OUT.  Environment: KUMO_BIN, DURATION, CONNS, THREADS.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("KUMO_BIN", str(REPO / "build" / "kumo"))

import requests  # noqa: E402
from conftest import Kumo, free_port  # noqa: E402

SECRET = "bench-" + uuid.uuid4().hex[:12]
TAG = uuid.uuid4().hex[:6]
GUEST_NS = f"mdb{TAG}g"


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60)


class ProxyKumo(Kumo):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.md_port = free_port()

    def write_config(self):
        super().write_config()
        with open(self.conf, "a") as f:
            f.write("\n[DEFAULT]\ndebug = false\n"
                    "\n[network]\nagents = true\nresync_interval = 3\nreport_interval = 2\n"
                    f"metadata_proxy_shared_secret = {SECRET}\n"
                    "nova_metadata_host = 127.0.0.1\n"
                    f"nova_metadata_port = {self.md_port}\n"
                    f"\n[metadata]\nport = {self.md_port}\nworkers = 8\n")


def wait(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def main():
    tmp = Path(tempfile.mkdtemp(prefix="kumo-mdproxy-", dir="/var/tmp"))
    k = ProxyKumo(Path(os.environ["KUMO_BIN"]), tmp, free_port(), f"sqlite:///{tmp}/identity.db")
    k.command = "all"
    k.write_config()
    net_id = None
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        r = k.token_response(k.admin_user, k.admin_password, project=k.admin_project)
        tok, body = r.headers["X-Subject-Token"], r.json()["token"]
        project = body["project"]["id"]
        h = {"X-Auth-Token": tok}
        api = f"{k.network_url}/v2.0"

        def post(path, obj):
            rr = requests.post(f"{api}/{path}", json=obj, headers=h, timeout=30)
            assert rr.status_code == 201, rr.text
            return rr.json()

        net = post("networks", {"network": {"name": f"mdbench-{TAG}"}})["network"]
        net_id = net["id"]
        post("subnets", {"subnet": {"network_id": net_id, "ip_version": 4,
                                    "cidr": "10.199.0.0/24"}})
        iid = str(uuid.uuid4())
        port = post("ports", {"port": {"network_id": net_id, "device_id": iid,
                                       "device_owner": "compute:nova"}})["port"]
        ip = port["fixed_ips"][0]["ip_address"]
        import sqlite3
        db = sqlite3.connect(tmp / "compute.db")
        now = int(time.time() * 1e6)
        db.execute("INSERT INTO cmp_instance (id, project_id, user_id, name, hostname, "
                   "flavor_id, flavor, vm_state, created_at, updated_at) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (iid, project, body["user"]["id"], "hello-instance", "hello-instance", "1",
                    json.dumps({"name": "m1.tiny"}), "active", now, now))
        db.execute("INSERT INTO cmp_instance_port (instance_id, port_id, network_id, mac, ips) "
                   "VALUES (?,?,?,?,?)", (iid, port["id"], net_id, port["mac_address"],
                                          json.dumps([{"addr": ip, "version": 4,
                                                       "type": "fixed"}])))
        db.commit()
        db.close()

        qns = f"qdhcp-{net_id}"
        wait(lambda: "169.254.169.254" in sh("ip", "netns", "exec", qns, "ip", "-4", "addr",
                                             check=False).stdout, 60, "the qdhcp namespace")
        wait(lambda: ":80 " in sh("ip", "netns", "exec", qns, "ss", "-ltn",
                                  check=False).stdout, 60, "the metadata proxy")
        # the guest: the port's address on a veth into the qdhcp namespace
        g, q = f"mdb{TAG}a", f"mdb{TAG}b"
        sh("ip", "netns", "add", GUEST_NS)
        sh("ip", "link", "add", g, "type", "veth", "peer", "name", q)
        sh("ip", "link", "set", g, "netns", GUEST_NS)
        sh("ip", "link", "set", q, "netns", qns)
        sh("ip", "-n", GUEST_NS, "link", "set", "lo", "up")
        sh("ip", "-n", GUEST_NS, "addr", "add", f"{ip}/32", "dev", g)
        sh("ip", "-n", GUEST_NS, "link", "set", g, "up")
        sh("ip", "-n", GUEST_NS, "route", "add", "169.254.169.254/32", "dev", g)
        sh("ip", "-n", qns, "link", "set", q, "up")
        sh("ip", "-n", qns, "route", "add", f"{ip}/32", "dev", q)
        out = sh("ip", "netns", "exec", GUEST_NS, "curl", "-s", "--max-time", "5",
                 "http://169.254.169.254/latest/meta-data/hostname", check=False).stdout
        if out != "hello-instance":
            raise RuntimeError(f"through the proxy: {out!r}\n" + k.output())
        dur, conns, threads = (os.environ.get("DURATION", "10s"), os.environ.get("CONNS", "32"),
                               os.environ.get("THREADS", "2"))
        with open(os.environ.get("BENCH_OUT", "/dev/null"), "a") as f:
            for name, path in (("ec2-leaf", "/latest/meta-data/hostname"),
                               ("os-json", "/openstack/latest/meta_data.json")):
                res = sh("ip", "netns", "exec", GUEST_NS, "wrk", f"-t{threads}", f"-c{conns}",
                         f"-d{dur}", "--latency", f"http://169.254.169.254{path}").stdout
                f.write(f"\n## proxy-{name} {path}\n{res}\n")
                rps = re.search(r"Requests/sec:\s+([\d.]+)", res)
                p50 = re.search(r"^\s+50%\s+(\S+)", res, re.M)
                bad = re.search(r"Non-2xx or 3xx responses: (\d+)", res)
                print(f"RESULT proxy-{name} {float(rps.group(1)):.0f} req/s p50 "
                      f"{p50.group(1) if p50 else '?'}"
                      + (f" NON-2XX {bad.group(1)}" if bad else ""), flush=True)
    finally:
        sh("ip", "netns", "del", GUEST_NS, check=False)
        if net_id:
            try:
                rr = requests.get(f"{k.network_url}/v2.0/ports?network_id={net_id}",
                                  headers=h, timeout=10)
                for p in rr.json().get("ports", []):
                    if p["device_owner"] != "network:dhcp":
                        requests.delete(f"{k.network_url}/v2.0/ports/{p['id']}", headers=h,
                                        timeout=10)
                requests.delete(f"{k.network_url}/v2.0/networks/{net_id}", headers=h,
                                timeout=10)
                wait(lambda: sh("ip", "netns", "exec", f"qdhcp-{net_id}", "true",
                                check=False).returncode != 0, 20, "the qdhcp namespace to go")
            except Exception as e:  # noqa: BLE001
                print(f"cleanup: {e}", file=sys.stderr)
        k.stop()
        if not os.environ.get("BENCH_KEEP"):
            subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
