#!/usr/bin/python3
"""bench/compute/boot.py - how long a server boot takes through Kumo, against
starting the same image with plain QEMU on the same machine (issue 5,
benchmark part a), and kumo's memory with N running instances (part c).

It starts a kumo of its own with the test suite's compute environment
(tests/integration/compute_env.py: network agents, libvirt compute agent,
the guest image uploaded, a tenant network with DHCP), opens ICMP in the
default security group, and then:

  1. one warm-up boot (fills the image cache: not Kumo's overhead);
  2. REPS boots: POST /servers -> ACTIVE (the API answer, scheduling, port,
     disk overlay, domain define+start) and POST -> the guest answers ping
     from the network's DHCP namespace, and the console's "login ready";
  3. REPS boots of the same image with plain qemu-system-x86_64 (TCG, same
     RAM/CPUs, a qcow2 overlay of the cached _base, a tap in the same bridge
     with the MAC of a port made through the API so dnsmasq answers): qemu
     start -> ping, and -> "login ready" on its serial console;
  4. N instances running at once: kumo's RSS and PSS (/proc/<pid>/smaps_rollup).

Kumo's overhead = (POST -> guest answers ping) - (qemu start -> guest
answers ping), medians; the guest's boot itself (SeaBIOS, kernel, DHCP) is
common to both.  ("login ready" is printed too, but it is not comparable:
the plain-QEMU guest has no instance behind its port, so the metadata API
refuses it and the guest waits for its retries before giving up.)

Usage: bench/compute/boot.py [--reps 3] [--instances 10]
Environment: KUMO_BIN (default build/kumo: a release-ish build, not ASan).
Needs root, libvirtd (tools/libvirt-setup.sh), the guest image.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
os.environ.setdefault("KUMO_BIN", str(ROOT / "build" / "kumo"))

from conftest import free_port  # noqa: E402  (first: it imports compute_env itself)
import compute_env as ce  # noqa: E402


def ns_ping(ns, ip, timeout=120):
    """The time the guest first answered a ping (probes every ~0.1 s)."""
    t_end = time.time() + timeout
    while time.time() < t_end:
        r = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "0.1",
                            ip], capture_output=True)
        if r.returncode == 0:
            return time.time()
    raise RuntimeError(f"{ip} never answered")


def wait_active(env, sid, timeout=300):
    """The time the API first shows the server ACTIVE (polled every 20 ms)."""
    t_end = time.time() + timeout
    while time.time() < t_end:
        s = env.show(sid)
        if s and s["status"] == "ACTIVE" and not s.get("OS-EXT-STS:task_state"):
            return time.time(), s
        if s and s["status"] == "ERROR":
            raise RuntimeError(f"{sid} went to ERROR: {s.get('fault')}")
        time.sleep(0.02)
    raise RuntimeError(f"{sid} never became ACTIVE")


def wait_file_text(path, text, t0, timeout=180):
    while time.time() - t0 < timeout:
        try:
            if text in Path(path).read_text(errors="replace"):
                return time.time()
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"'{text}' never appeared in {path}")


def rss_pss(pid):
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss / 1024, pss / 1024


def kumo_boot(env, name):
    t0 = time.time()
    sid = env.create(name)["server"]["id"]
    t_api = time.time()
    t_active, s = wait_active(env, sid)
    ip = next(a["addr"] for addrs in s["addresses"].values() for a in addrs)
    t_ping = ns_ping(f"qdhcp-{env.network_id}", ip)
    console = env.instance_dir(sid) / "console.log"
    t_ready = wait_file_text(console, "login ready", t0)
    return {"api": t_api - t0, "active": t_active - t0, "ping": t_ping - t0,
            "ready": t_ready - t0, "id": sid}


def qemu_boot(env, work, i):
    """The same image under plain QEMU, on a port of the same network."""
    port = env.neutron.post("v2.0/ports", json={"port": {
        "network_id": env.network_id, "name": f"bench-qemu-{i}",
        "device_id": f"bench-qemu-{env.id}-{i}", "device_owner": "compute:bench",
        "port_security_enabled": False}}).json()["port"]
    tap = "tap" + port["id"][:11]
    bridge = "brq" + env.network_id[:11]
    base = next((env.kumo.dir / "instances" / "_base").iterdir())
    disk = work / f"qemu-{i}.qcow2"
    console = work / f"qemu-{i}.log"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base),
                    str(disk), "1G"], check=True)
    subprocess.run(["ip", "tuntap", "add", tap, "mode", "tap"], check=True)
    subprocess.run(["ip", "link", "set", tap, "master", bridge, "up"], check=True)
    t0 = time.time()
    p = subprocess.Popen(["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
                          "-drive", f"file={disk},if=virtio,cache=none",
                          "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                          "-device", f"virtio-net-pci,netdev=n0,mac={port['mac_address']}",
                          "-serial", f"file:{console}", "-display", "none"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ip = port["fixed_ips"][0]["ip_address"]
        t_ping = ns_ping(f"qdhcp-{env.network_id}", ip)
        t_ready = wait_file_text(console, "login ready", t0)
        return {"ping": t_ping - t0, "ready": t_ready - t0}
    finally:
        p.kill()
        p.wait()
        subprocess.run(["ip", "link", "delete", tap], capture_output=True)
        env.neutron.delete(f"v2.0/ports/{port['id']}")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def each(runs, key):
    return ", ".join(f"{r[key]:.2f}" for r in runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--instances", type=int, default=10)
    a = ap.parse_args()

    why = ce.libvirt_ok() or ce.ensure_image()
    if why:
        sys.exit(f"boot.py: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-boot-"))
    k = ce.ComputeKumo(Path(os.environ["KUMO_BIN"]), tmp, free_port(),
                       f"sqlite:///{tmp / 'identity.db'}")
    k.command = "all"
    k.write_config()
    k.manage("db-sync")
    k.manage("fernet-setup")
    k.bootstrap()
    k.start()
    env = None
    lines = []
    try:
        env = ce.ComputeEnv(k)
        env.image_id = env.upload_image()
        env.network_id, env.subnet_id = env.make_network(200)
        sg = env.neutron.get("v2.0/security-groups", params={
            "name": "default", "project_id": env.project_id}).json()["security_groups"][0]
        env.neutron.post("v2.0/security-group-rules", json={"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", "protocol": "icmp",
            "ethertype": "IPv4", "remote_ip_prefix": "0.0.0.0/0"}})
        ce.wait_for(lambda: any(s["binary"] == "nova-compute" and s["state"] == "up"
                                for s in env.nova.get("os-services").json()["services"]),
                    timeout=60, what="nova-compute up")

        warm = kumo_boot(env, "bench-warm")
        env.delete(warm["id"])
        lines.append(f"warm-up (image cache fill): POST->ACTIVE {warm['active']:.2f} s")

        kb = []
        for i in range(a.reps):
            r = kumo_boot(env, f"bench-{i}")
            kb.append(r)
            env.delete(r["id"])
        qb = [qemu_boot(env, tmp, i) for i in range(a.reps)]

        lines += [
            f"kumo  POST->202 answer      median {med([r['api'] for r in kb]) * 1000:.0f} ms",
            f"kumo  POST->ACTIVE          median {med([r['active'] for r in kb]):.2f} s",
            f"kumo  POST->guest pings     median {med([r['ping'] for r in kb]):.2f} s "
            f"({each(kb, 'ping')})",
            f"kumo  POST->login ready     median {med([r['ready'] for r in kb]):.2f} s",
            f"qemu  start->guest pings    median {med([r['ping'] for r in qb]):.2f} s "
            f"({each(qb, 'ping')})",
            f"qemu  start->login ready    median {med([r['ready'] for r in qb]):.2f} s",
            f"kumo overhead (pings)       {(med([r['ping'] for r in kb]) - med([r['ping'] for r in qb])) * 1000:.0f} ms",
            f"kumo overhead (login ready) {(med([r['ready'] for r in kb]) - med([r['ready'] for r in qb])) * 1000:.0f} ms",
        ]

        rss0, pss0 = rss_pss(k.proc.pid)
        ids = [env.create(f"bench-many-{i}")["server"]["id"] for i in range(a.instances)]
        for sid in ids:
            env.wait(sid, "ACTIVE", timeout=600)
        rss1, pss1 = rss_pss(k.proc.pid)
        lines.append(f"kumo memory: idle RSS {rss0:.1f} MiB PSS {pss0:.1f} MiB; with "
                     f"{a.instances} running instances RSS {rss1:.1f} MiB PSS {pss1:.1f} MiB")
        for sid in ids:
            env.delete(sid, timeout=300)
    finally:
        if env:
            env.teardown()
        k.stop()
        if env:
            ce._cleanup_host(env)
    print("\n".join(lines))
    out = ROOT / "bench" / "results" / f"compute-boot-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
