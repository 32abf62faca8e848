"""The seed's compute story end to end, with real VMs and the real CLIs
(issue 5, acceptance 1 and 3).

Everything runs against compute_env (a kumo of its own with the network
agents and the libvirt compute agent; QEMU under TCG here).  The tests:

  * the seed's section 四 with `nova keypair-add`, `nova flavor-list`,
    `openstack image list`, `nova boot`, `openstack server create`,
    `nova list` (ACTIVE, "<network>=<ip>"), `openstack console log show`
    (the guest's kernel messages), a snapshot with `openstack server image
    create` and a boot from it, and `openstack server delete`: nothing is
    left behind (domain, instance directory, tap, port);
  * faults: kill -9 of kumo during a boot (the server ends ACTIVE or ERROR
    with a fault, never stuck in BUILD), running VMs survive a kumo restart
    (the same QEMU process), a VM destroyed behind kumo's back shows SHUTOFF,
    a boot nothing can hold ends in ERROR "No valid host", quota exhaustion
    is refused with 403 before anything is built, bad input gets Nova's 4xx
    and leaves no server behind.
"""

import json
import re
import signal
import subprocess
import time
import uuid

import pytest

from compute_env import virsh, wait_for


def _ssh_keypair(tmp_path):
    key = tmp_path / "id_rsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(key)],
                   check=True, capture_output=True)
    md5 = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(key) + ".pub"],
                         check=True, capture_output=True, text=True).stdout.split()[1]
    return key, md5.removeprefix("MD5:")


def _server_ids(env):
    r = env.nova.get("servers", params={"all_tenants": "1"})
    assert r.status_code == 200, r.text
    return {s["id"] for s in r.json()["servers"]}


def _qemu_pid(sid):
    r = subprocess.run(["pgrep", "-f", f"guest=instance-{sid}"], capture_output=True, text=True)
    return r.stdout.split()[0] if r.returncode == 0 and r.stdout.split() else None


def test_seed_story_with_the_clis(compute_env, tmp_path):
    env = compute_env
    key, md5 = _ssh_keypair(tmp_path)
    kp = f"mykey-{env.id}"
    env.cli("keypair-add", "--pub-key", str(key) + ".pub", kp, cmd="nova")
    listing = env.cli("keypair-list", cmd="nova").stdout
    assert kp in listing and md5 in listing, listing

    flavors = env.cli("flavor-list", cmd="nova").stdout
    for name in ("m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"):
        assert name in flavors, flavors
    images = env.cli("image", "list", "-f", "value", "-c", "ID").stdout
    assert env.image_id in images

    # openstack server create ... --wait, as a new user would
    name = f"hello-instance-{env.id}"
    out = env.cli("server", "create", "--flavor", "m1.tiny", "--image", env.image_id,
                  "--nic", f"net-id={env.network_id}", "--security-group", "default",
                  "--key-name", kp, "--wait", "-f", "json", name, timeout=300).stdout
    server = json.loads(out)
    env.servers.append(server["id"])
    assert server["status"] == "ACTIVE", server

    # the seed's nova boot + nova list
    name2 = f"hello-nova-{env.id}"
    out = env.cli("boot", "--flavor", "m1.tiny", "--image", env.image_id, "--nic",
                  f"net-id={env.network_id}", "--security-group", "default", "--key-name", kp,
                  name2, cmd="nova").stdout
    sid2 = re.search(r"\|\s+id\s+\|\s+([0-9a-f-]{36})", out).group(1)
    env.servers.append(sid2)
    env.wait(sid2, "ACTIVE")
    listing = env.cli("list", cmd="nova").stdout
    row = next(line for line in listing.splitlines() if sid2 in line)
    assert "ACTIVE" in row and "Running" in row, row
    assert re.search(re.escape(env.network_name) + r"=10\.99\.\d+\.\d+", row), row

    # the guest's boot messages through the console log
    def booted():
        log = env.cli("console", "log", "show", server["id"]).stdout
        return "Linux version" in log and log
    log = wait_for(booted, timeout=120, interval=3, what="kernel messages in the console log")
    assert "Linux version" in log

    # snapshot, then a server from the snapshot
    snap = f"seed-snap-{uuid.uuid4().hex[:8]}"
    env.cli("server", "image", "create", "--name", snap, "--wait", server["id"], timeout=300)
    img = json.loads(env.cli("image", "show", "-f", "json", snap).stdout)
    env.images.append(img["id"])
    assert img["status"] == "active", img
    s3 = env.boot(f"from-snap-{env.id}", image=img["id"])
    assert s3["image"]["id"] == img["id"]

    # delete: nothing left behind
    for sid in (server["id"], sid2, s3["id"]):
        taps = env.taps(sid)
        assert taps, f"server {sid} has no port"
        env.cli("server", "delete", "--wait", sid, timeout=180)
        assert env.leftovers(sid, taps) == []


def test_kill_9_during_boot_never_leaves_build(compute_env):
    env = compute_env
    sid = env.create(f"killed-{env.id}")["server"]["id"]
    # wait until the agent works on it, then kill kumo without warning
    wait_for(lambda: env.show(sid)["OS-EXT-STS:task_state"] in
             ("networking", "block_device_mapping", "spawning") or
             env.show(sid)["status"] != "BUILD",
             timeout=60, interval=0.05, what="the build to start")
    env.kumo.proc.send_signal(signal.SIGKILL)
    env.kumo.proc.wait()
    env.kumo.start()
    wait_for(lambda: any(s["binary"] == "nova-compute" and s["state"] == "up"
                         for s in env.nova.get("os-services").json()["services"]),
             timeout=60, what="nova-compute up again")
    s = wait_for(lambda: env.show(sid)["status"] in ("ACTIVE", "ERROR") and env.show(sid),
                 timeout=180, interval=1, what="ACTIVE or ERROR after the restart")
    if s["status"] == "ERROR":
        assert s.get("fault", {}).get("message"), s
    env.delete(sid)
    assert not env.domain_exists(sid)


def test_running_vms_survive_a_kumo_restart(compute_env):
    env = compute_env
    s = env.boot(f"survivor-{env.id}")
    pid = _qemu_pid(s["id"])
    assert pid, "no qemu process for the domain"
    env.kumo.stop()
    assert _qemu_pid(s["id"]) == pid, "the VM stopped with kumo"
    env.kumo.start()
    assert _qemu_pid(s["id"]) == pid
    s2 = env.wait(s["id"], "ACTIVE", timeout=60)
    assert s2["OS-EXT-STS:power_state"] == 1
    env.delete(s["id"])


def test_domain_destroyed_behind_our_back_shows_shutoff(compute_env):
    env = compute_env
    s = env.boot(f"destroyed-{env.id}")
    assert virsh("destroy", f"instance-{s['id']}").returncode == 0
    s2 = env.wait(s["id"], "SHUTOFF", timeout=60)
    assert s2["OS-EXT-STS:power_state"] == 4
    env.delete(s["id"])
    assert env.leftovers(s["id"]) == []


def test_no_valid_host(compute_env):
    env = compute_env
    fid = f"huge-{env.id}"
    # more disk than the host has (disk has no quota, so the scheduler decides)
    r = env.nova.post("flavors", json={"flavor": {"name": fid, "id": fid, "ram": 256,
                                                  "vcpus": 1, "disk": 1000000}})
    assert r.status_code == 200, r.text
    try:
        sid = env.create(f"nohost-{env.id}", flavor=fid)["server"]["id"]
        s = env.wait(sid, "ERROR", timeout=60)
        assert "No valid host" in s["fault"]["message"], s["fault"]
        assert not env.domain_exists(sid)
        env.delete(sid)
    finally:
        env.nova.delete(f"flavors/{fid}")


def test_quota_exhaustion_is_refused_before_anything_is_built(compute_env):
    env = compute_env
    r = env.nova.put(f"os-quota-sets/{env.project_id}", json={"quota_set": {"instances": 0,
                                                                            "force": True}})
    assert r.status_code == 200, r.text
    try:
        before = _server_ids(env)
        r = env.nova.post("servers", json={"server": {
            "name": f"overquota-{env.id}", "imageRef": env.image_id, "flavorRef": env.flavor,
            "networks": [{"uuid": env.network_id}]}})
        assert r.status_code == 403, r.text
        assert "Quota exceeded" in r.json()["forbidden"]["message"]
        assert _server_ids(env) == before
    finally:
        env.nova.delete(f"os-quota-sets/{env.project_id}")


@pytest.mark.parametrize("field,value,status", [
    ("flavorRef", "no-such-flavor", 400),
    ("imageRef", "00000000-0000-4000-8000-000000000000", 400),
    ("networks", [{"uuid": "00000000-0000-4000-8000-000000000000"}], 400),
    ("networks", [{"uuid": "not-a-uuid"}], 400),
    ("user_data", "not base64!", 400),
    ("name", "", 400),
    ("name", "x" * 256, 400),
    ("key_name", "no-such-key", 400),
    ("security_groups", [{"name": "no-such-group"}], 400),
])
def test_bad_input_leaves_nothing(compute_env, field, value, status):
    env = compute_env
    before = _server_ids(env)
    body = {"name": f"bad-{env.id}", "imageRef": env.image_id, "flavorRef": env.flavor,
            "networks": [{"uuid": env.network_id}]}
    body[field] = value
    r = env.nova.post("servers", json={"server": body})
    assert r.status_code == status, r.text
    assert "badRequest" in r.json(), r.text
    assert _server_ids(env) == before
