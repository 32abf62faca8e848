"""Server actions (POST /v2.1/servers/{id}/action) and os-instance-actions.

Two parts:

* API-level checks against the shared `kumo` fixture, which has no compute
  agent: servers never get a host there (they stay BUILD or go to ERROR with
  NoValidHost), so these check the dispatcher (unknown action, malformed
  bodies), the schemas, 404s, the state conflicts (409), the lock semantics
  and the instance-action records;
* the lifecycle of a real VM (the `compute_env` fixture of compute_env.py:
  libvirt, the guest image, a network; skipped when unavailable): reboot
  SOFT/HARD, stop/start, pause/unpause, suspend/resume, lock/unlock, console
  output, rebuild, resize + revert, resize + confirm, createImage, then the
  same through the real `openstack` CLI.  Tests of that part run in file
  order on one server.
"""

import os
import re
import time
import uuid

import pytest
import requests

FAULTS = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest"}


# ---------------------------------------------------------------- helpers

def ok(r, code=200):
    assert r.status_code == code, f"{r.status_code} {r.text}"
    return r.json() if r.content else None


def err(r, code, text=None):
    """Assert a Nova error body; its message."""
    assert r.status_code == code, f"{r.status_code} {r.text}"
    body = r.json()
    assert list(body) == [FAULTS[code]], body
    e = body[FAULTS[code]]
    assert e["code"] == code, e
    if text is not None:
        assert text in e["message"], e["message"]
    return e["message"]


def act(api, sid, body):
    return api.post(f"servers/{sid}/action", json=body)


def wait_for(fn, timeout=60.0, interval=0.5, what="condition"):
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (AssertionError, requests.RequestException, KeyError) as e:
            last = e
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f": {last}" if last else ""))
        time.sleep(interval)


class Env:
    pass


@pytest.fixture(scope="module")
def env(kumo, admin):
    """A member user in a project of its own with a network and an image,
    a server of theirs (never ACTIVE: no agent), and the admin."""
    e = Env()
    tag = uuid.uuid4().hex[:8]
    roles = {r["name"]: r["id"] for r in ok(admin.get("roles"))["roles"]}
    if "member" not in roles:
        roles["member"] = ok(admin.post("roles", json={"role": {"name": "member"}}),
                             201)["role"]["id"]
    e.pw = "pw-" + tag
    e.projects, e.nova = {}, {}
    for p in ("a", "b"):
        proj = ok(admin.post("projects", json={"project": {"name": f"act-{p}-{tag}",
                                                           "domain_id": "default"}}),
                  201)["project"]
        user = ok(admin.post("users", json={"user": {"name": f"act-{p}-{tag}",
                                                     "password": e.pw,
                                                     "domain_id": "default"}}), 201)["user"]
        ok(admin.put(f"projects/{proj['id']}/users/{user['id']}/roles/{roles['member']}"), 204)
        e.projects[p] = proj["id"]
        e.nova[p] = kumo.nova(kumo.token(user["name"], e.pw, project=proj["id"]))
        if p == "a":
            e.token_a = e.nova[p].token
    e.admin = kumo.nova()
    glance = kumo.glance(e.token_a)
    img = ok(glance.post("v2/images", json={"name": f"act-{tag}", "disk_format": "raw",
                                            "container_format": "bare"}), 201)
    r = glance.put(f"v2/images/{img['id']}/file", data=b"\0" * 4096,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    e.image_id = img["id"]
    neutron = kumo.neutron(e.token_a)
    net = ok(neutron.post("v2.0/networks", json={"network": {"name": f"act-{tag}"}}),
             201)["network"]
    ok(neutron.post("v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.77.0.0/24"}}), 201)
    e.network_id = net["id"]
    e.servers = []
    yield e
    for sid in e.servers:
        e.admin.delete(f"servers/{sid}")


def create_server(e, api=None, name=None):
    api = api or e.nova["a"]
    r = api.post("servers", json={"server": {
        "name": name or f"act-{uuid.uuid4().hex[:6]}", "imageRef": e.image_id,
        "flavorRef": "1", "networks": [{"uuid": e.network_id}]}})
    body = ok(r, 202)
    sid = body["server"]["id"]
    e.servers.append(sid)
    return sid


@pytest.fixture(scope="module")
def server(env):
    """One server of project a; it never becomes ACTIVE (no agent)."""
    sid = create_server(env)
    # let the conductor/scheduler settle it (BUILD -> ERROR: no valid host)
    time.sleep(1)
    return sid


# ---------------------------------------------------------------- dispatcher

def test_unknown_action_is_400(env, server):
    err(act(env.nova["a"], server, {"fooBar": {}}), 400, "There is no such action: fooBar")
    # before the lookup: an unknown server gets the same answer
    err(act(env.nova["a"], str(uuid.uuid4()), {"os-getRDPConsole": {"type": "rdp-html5"}}), 400,
        "There is no such action: os-getRDPConsole")


@pytest.mark.parametrize("body", [
    b"{}", b'{"os-stop": null, "os-start": null}', b"[]", b'"reboot"', b"{not json",
])
def test_malformed_body_is_400(env, server, body):
    r = env.nova["a"].post(f"servers/{server}/action", data=body,
                           headers={"Content-Type": "application/json"})
    err(r, 400)


def test_action_on_unknown_server_is_404(env):
    missing = str(uuid.uuid4())
    for body in ({"os-stop": None}, {"reboot": {"type": "HARD"}}, {"lock": None},
                 {"confirmResize": None}, {"os-getConsoleOutput": {}},
                 {"createImage": {"name": "x"}}):
        err(act(env.nova["a"], missing, body), 404, f"Instance {missing} could not be found")
    err(act(env.nova["a"], "not-a-uuid", {"pause": None}), 404)


def test_other_projects_server_is_404(env, server):
    err(act(env.nova["b"], server, {"os-stop": None}), 404)
    err(act(env.nova["b"], server, {"lock": None}), 404)
    err(env.nova["b"].get(f"servers/{server}/os-instance-actions"), 404)


@pytest.mark.parametrize("body", [
    {"reboot": {"type": "MEDIUM"}},
    {"reboot": {}},
    {"reboot": {"type": "SOFT", "force": True}},
    {"reboot": "HARD"},
    {"resize": {}},
    {"resize": {"flavorRef": ""}},
    {"resize": {"flavorRef": "2", "extra": 1}},
    {"createImage": {}},
    {"createImage": {"name": ""}},
    {"createImage": {"name": " padded "}},
    {"createImage": {"name": "x", "metadata": {"k": 1}}},
    {"createImage": {"name": "x", "metadata": ["k"]}},
    {"rebuild": {}},
    {"rebuild": {"imageRef": "not-a-uuid"}},
    {"rebuild": {"imageRef": "%s", "accessIPv4": "300.1.1.1"}},
    {"rebuild": {"imageRef": "%s", "bogus": 1}},
    {"os-getConsoleOutput": {"length": "abc"}},
    {"os-getConsoleOutput": {"length": -2}},
    {"os-getConsoleOutput": {"length": 1.5}},
    {"os-getConsoleOutput": {"length": 3, "x": 1}},
])
def test_schema_errors_are_400(env, server, body):
    if "rebuild" in body and body["rebuild"].get("imageRef") == "%s":
        body["rebuild"]["imageRef"] = env.image_id
    err(act(env.nova["a"], server, body), 400)


# ---------------------------------------------------------------- states

def test_state_conflicts_are_409(env, server):
    s = ok(env.admin.get(f"servers/{server}"))["server"]
    assert s["status"] in ("BUILD", "ERROR"), s["status"]
    api = env.nova["a"]
    msg = err(act(api, server, {"confirmResize": None}), 409,
              f"Cannot 'confirmResize' instance {server} while it is in vm_state")
    assert msg.endswith(s["OS-EXT-STS:vm_state"]), msg
    err(act(api, server, {"revertResize": None}), 409, "Cannot 'revertResize' instance")
    err(act(api, server, {"os-start": None}), 409, "Cannot 'start' instance")
    err(act(api, server, {"unpause": None}), 409, "Cannot 'unpause' instance")
    err(act(api, server, {"resume": None}), 409, "Cannot 'resume' instance")
    err(act(api, server, {"reboot": {"type": "SOFT"}}), 409)
    err(act(api, server, {"pause": None}), 409)
    err(act(api, server, {"suspend": None}), 409)
    err(act(api, server, {"resize": {"flavorRef": "2"}}), 409)
    err(act(api, server, {"createImage": {"name": "snap"}}), 409)
    err(act(api, server, {"rebuild": {"imageRef": env.image_id}}), 409)
    # never scheduled: no host to ask for a console
    err(act(api, server, {"os-getConsoleOutput": {"length": 5}}), 409)
    if s["status"] == "ERROR":
        # allowed from ERROR, but there is no host
        err(act(api, server, {"os-stop": None}), 409, f"Instance {server} is not ready")
        err(act(api, server, {"reboot": {"type": "HARD"}}), 409, "is not ready")
    else:
        err(act(api, server, {"os-stop": None}), 409, "Cannot 'stop' instance")
    # none of that changed the server
    s2 = ok(env.admin.get(f"servers/{server}"))["server"]
    assert s2["OS-EXT-STS:task_state"] == s["OS-EXT-STS:task_state"]
    assert s2["OS-EXT-STS:vm_state"] == s["OS-EXT-STS:vm_state"]


# ---------------------------------------------------------------- lock

def test_lock_by_owner(env):
    sid = create_server(env)
    api = env.nova["a"]
    r = act(api, sid, {"lock": None})
    ok(r, 202)
    lock_req = r.headers["x-openstack-request-id"]
    # locking again as the owner changes nothing and records nothing
    ok(act(api, sid, {"lock": {}}), 202)
    err(act(api, sid, {"reboot": {"type": "HARD"}}), 409, f"Instance {sid} is locked")
    err(act(api, sid, {"os-stop": None}), 409, "is locked")
    err(act(api, sid, {"resize": {"flavorRef": "2"}}), 409, "is locked")
    err(api.delete(f"servers/{sid}"), 409, "is locked")
    # admins pass the lock (and meet the next check)
    msg = err(act(env.admin, sid, {"os-stop": None}), 409)
    assert "locked" not in msg, msg
    # the owner unlocks their own lock
    r = act(api, sid, {"unlock": None})
    ok(r, 202)
    unlock_req = r.headers["x-openstack-request-id"]

    acts = ok(api.get(f"servers/{sid}/os-instance-actions"))["instanceActions"]
    names = [a["action"] for a in acts]
    assert names[:2] == ["unlock", "lock"], names
    assert names.count("lock") == 1, names
    assert names[-1] == "create", names
    for a in acts:
        assert set(a) == {"action", "instance_uuid", "message", "project_id", "request_id",
                          "start_time", "user_id"}, a
        assert a["instance_uuid"] == sid
        assert a["project_id"] == env.projects["a"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", a["start_time"]), a
    assert acts[0]["request_id"] == unlock_req and acts[1]["request_id"] == lock_req

    # the action with its events: admins see them, the owner does not
    mine = ok(api.get(f"servers/{sid}/os-instance-actions/{lock_req}"))["instanceAction"]
    assert mine["action"] == "lock" and mine["message"] is None
    assert "events" not in mine
    full = ok(env.admin.get(f"servers/{sid}/os-instance-actions/{lock_req}"))["instanceAction"]
    assert [ev["event"] for ev in full["events"]] == ["api_lock"], full
    ev = full["events"][0]
    assert set(ev) == {"event", "start_time", "finish_time", "result", "traceback"}, ev
    assert ev["result"] == "Success" and ev["finish_time"]

    err(api.get(f"servers/{sid}/os-instance-actions/req-{uuid.uuid4()}"), 404)
    err(api.get(f"servers/{uuid.uuid4()}/os-instance-actions"), 404)
    err(api.get(f"servers/{uuid.uuid4()}/os-instance-actions/{lock_req}"), 404)

    # the owner may delete it again
    assert api.delete(f"servers/{sid}").status_code == 204


def test_admin_lock_binds_the_owner(env):
    sid = create_server(env)
    api = env.nova["a"]
    ok(act(env.admin, sid, {"lock": None}), 202)
    # locked by an admin: the owner may not unlock (unlock_override is admin-only)
    err(act(api, sid, {"unlock": None}), 403)
    err(act(api, sid, {"os-stop": None}), 409, "is locked")
    ok(act(env.admin, sid, {"unlock": None}), 202)
    # and an owner's lock may be lifted by an admin
    ok(act(api, sid, {"lock": None}), 202)
    ok(act(env.admin, sid, {"unlock": None}), 202)
    acts = [a["action"] for a in
            ok(api.get(f"servers/{sid}/os-instance-actions"))["instanceActions"]]
    assert acts[:4] == ["unlock", "lock", "unlock", "lock"], acts


def test_instance_actions_after_create(env, server):
    acts = ok(env.nova["a"].get(f"servers/{server}/os-instance-actions"))["instanceActions"]
    assert acts and acts[-1]["action"] == "create", acts
    req = acts[-1]["request_id"]
    one = ok(env.nova["a"].get(f"servers/{server}/os-instance-actions/{req}"))
    assert one["instanceAction"]["action"] == "create"


# ================================================================ real VMs

OPENSTACK = "/usr/bin/openstack"


class Vm:
    """The module's VM: its id and the environment."""


@pytest.fixture(scope="module")
def vm(request):
    try:
        import compute_env  # noqa: F401  (the lead's fixture module)
    except ImportError:
        pytest.skip("tests/integration/compute_env.py is not there yet")
    cenv = request.getfixturevalue("compute_env")
    v = Vm()
    v.env = cenv
    v.nova = cenv.nova
    v.server = cenv.boot(f"act-vm-{cenv.id}")
    v.id = v.server["id"]
    return v


def vm_act(vm, body, code=202):
    r = act(vm.nova, vm.id, body)
    assert r.status_code == code, f"{body}: {r.status_code} {r.text}"
    return r


def event_results(vm, request_id):
    a = ok(vm.nova.get(f"servers/{vm.id}/os-instance-actions/{request_id}"))["instanceAction"]
    return {e["event"]: e["result"] for e in a.get("events", [])}


def console(vm, length=None):
    body = {"os-getConsoleOutput": {} if length is None else {"length": length}}
    return ok(act(vm.nova, vm.id, body))["output"]


def test_vm_console_output(vm):
    out = wait_for(lambda: "Linux version" in console(vm) and console(vm), timeout=180,
                   interval=2, what="kernel messages on the console")
    assert "Linux version" in out
    three = wait_for(lambda: (lambda o: o if len(o.split("\n")) == 3 else None)(
        console(vm, 3)), timeout=30, what="3 lines")
    assert len(three.split("\n")) == 3
    assert console(vm, "2").count("\n") <= 1
    assert console(vm, 0) == ""
    assert len(console(vm, -1)) >= len(three)


def test_vm_reboot_soft_and_hard(vm):
    for kind in ("SOFT", "HARD"):
        r = vm_act(vm, {"reboot": {"type": kind}})
        s = ok(vm.nova.get(f"servers/{vm.id}"))["server"]
        assert s["status"] in ("REBOOT", "HARD_REBOOT", "ACTIVE"), s["status"]
        vm.env.wait(vm.id, "ACTIVE", timeout=240)
        req = r.headers["x-openstack-request-id"]
        wait_for(lambda: "Success" in event_results(vm, req).values(), timeout=30,
                 what=f"{kind} reboot event")


def test_vm_stop_start(vm):
    vm_act(vm, {"os-stop": None})
    s = vm.env.wait(vm.id, "SHUTOFF", timeout=120)
    assert s["OS-EXT-STS:power_state"] == 4 and s["OS-EXT-STS:vm_state"] == "stopped"
    # stopping a stopped server conflicts; its console is still readable
    err(act(vm.nova, vm.id, {"os-stop": None}), 409, "while it is in vm_state stopped")
    err(act(vm.nova, vm.id, {"reboot": {"type": "SOFT"}}), 409)
    assert "Linux version" in console(vm)
    vm_act(vm, {"os-start": None})
    s = vm.env.wait(vm.id, "ACTIVE", timeout=120)
    assert s["OS-EXT-STS:power_state"] == 1


def test_vm_pause_unpause(vm):
    vm_act(vm, {"pause": None})
    s = vm.env.wait(vm.id, "PAUSED", timeout=60)
    assert s["OS-EXT-STS:power_state"] == 3
    err(act(vm.nova, vm.id, {"pause": None}), 409, "vm_state paused")
    vm_act(vm, {"unpause": None})
    vm.env.wait(vm.id, "ACTIVE", timeout=60)


def test_vm_suspend_resume(vm):
    vm_act(vm, {"suspend": None})
    s = vm.env.wait(vm.id, "SUSPENDED", timeout=120)
    assert s["OS-EXT-STS:power_state"] in (4, 7)
    vm_act(vm, {"resume": None})
    vm.env.wait(vm.id, "ACTIVE", timeout=120)


def test_vm_lock_unlock(vm):
    vm_act(vm, {"lock": None})
    vm_act(vm, {"unlock": None})
    acts = [a["action"] for a in
            ok(vm.nova.get(f"servers/{vm.id}/os-instance-actions"))["instanceActions"]]
    assert acts[:2] == ["unlock", "lock"], acts
    for name in ("reboot", "stop", "start", "pause", "unpause", "suspend", "resume",
                 "create"):
        assert name in acts, (name, acts)


def test_vm_rebuild(vm):
    r = vm_act(vm, {"rebuild": {"imageRef": vm.env.image_id, "name": f"rebuilt-{vm.env.id}",
                                "metadata": {"rebuilt": "yes"}}})
    s = r.json()["server"]
    assert s["adminPass"] and s["status"] == "REBUILD", s
    assert s["name"] == f"rebuilt-{vm.env.id}" and s["metadata"] == {"rebuilt": "yes"}
    assert s["image"]["id"] == vm.env.image_id
    assert not any(k.startswith("OS-EXT-") for k in s), s
    s = vm.env.wait(vm.id, "ACTIVE", timeout=240)
    assert s["name"] == f"rebuilt-{vm.env.id}"
    wait_for(lambda: "Linux version" in console(vm), timeout=180, interval=2,
             what="the rebuilt guest's kernel")


def test_vm_resize_same_flavor_is_400(vm):
    err(act(vm.nova, vm.id, {"resize": {"flavorRef": vm.env.flavor}}), 400,
        "When resizing, instances must change flavor!")
    err(act(vm.nova, vm.id, {"resize": {"flavorRef": "no-such-flavor"}}), 400,
        "Flavor no-such-flavor could not be found.")


def test_vm_resize_revert(vm):
    vm_act(vm, {"resize": {"flavorRef": vm.env.flavor_alt}})
    s = vm.env.wait(vm.id, "VERIFY_RESIZE", timeout=240)
    assert s["flavor"]["id"] == vm.env.flavor_alt
    err(act(vm.nova, vm.id, {"resize": {"flavorRef": vm.env.flavor}}), 409)
    vm_act(vm, {"revertResize": None})
    s = vm.env.wait(vm.id, "ACTIVE", timeout=240)
    assert s["flavor"]["id"] == vm.env.flavor


def test_vm_resize_confirm(vm):
    vm_act(vm, {"resize": {"flavorRef": vm.env.flavor_alt}})
    vm.env.wait(vm.id, "VERIFY_RESIZE", timeout=240)
    vm_act(vm, {"confirmResize": None}, code=204)
    s = vm.env.wait(vm.id, "ACTIVE", timeout=120)
    assert s["flavor"]["id"] == vm.env.flavor_alt
    err(act(vm.nova, vm.id, {"confirmResize": None}), 409, "vm_state active")


def test_vm_create_image(vm):
    r = vm_act(vm, {"createImage": {"name": f"snap-{vm.env.id}",
                                    "metadata": {"purpose": "test"}}})
    assert r.content == b"" or not r.json()
    image_id = r.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    vm.env.images.append(image_id)

    def active():
        img = vm.env.glance.get(f"v2/images/{image_id}").json()
        assert img["status"] not in ("killed", "deleted"), img
        return img if img["status"] == "active" else None
    img = wait_for(active, timeout=300, interval=2, what="the snapshot image")
    assert img["image_type"] == "snapshot" and img["instance_uuid"] == vm.id
    assert img["purpose"] == "test" and img["visibility"] == "private"
    assert img["size"] > 0
    vm.env.wait(vm.id, "ACTIVE", timeout=60)


# ---------------------------------------------------------------- the CLI

def cli(vm, *args):
    return vm.env.cli(*args, timeout=300)


@pytest.mark.skipif(not os.path.exists(OPENSTACK), reason="no openstackclient")
def test_vm_cli_power_actions(vm):
    sid = vm.id
    cli(vm, "server", "stop", sid)
    vm.env.wait(sid, "SHUTOFF", timeout=120)
    cli(vm, "server", "start", sid)
    vm.env.wait(sid, "ACTIVE", timeout=120)
    cli(vm, "server", "reboot", "--soft", sid)
    vm.env.wait(sid, "ACTIVE", timeout=240)
    cli(vm, "server", "reboot", "--hard", sid)
    vm.env.wait(sid, "ACTIVE", timeout=240)
    cli(vm, "server", "pause", sid)
    vm.env.wait(sid, "PAUSED", timeout=60)
    cli(vm, "server", "unpause", sid)
    vm.env.wait(sid, "ACTIVE", timeout=60)
    cli(vm, "server", "suspend", sid)
    vm.env.wait(sid, "SUSPENDED", timeout=120)
    cli(vm, "server", "resume", sid)
    vm.env.wait(sid, "ACTIVE", timeout=120)
    cli(vm, "server", "lock", sid)
    cli(vm, "server", "unlock", sid)
    out = cli(vm, "server", "event", "list", sid, "-f", "value", "-c", "Action").stdout
    for name in ("stop", "start", "reboot", "pause", "unpause", "suspend", "resume", "lock",
                 "unlock"):
        assert name in out.split(), (name, out)


@pytest.mark.skipif(not os.path.exists(OPENSTACK), reason="no openstackclient")
def test_vm_cli_console_log(vm):
    out = wait_for(lambda: (lambda o: o if "Linux version" in o else None)(
        cli(vm, "console", "log", "show", vm.id).stdout), timeout=120, interval=3,
        what="console log")
    assert "Linux version" in out
    short = cli(vm, "console", "log", "show", "--lines", "2", vm.id).stdout
    assert short.strip().count("\n") <= 2


@pytest.mark.skipif(not os.path.exists(OPENSTACK), reason="no openstackclient")
def test_vm_cli_resize_rebuild_image(vm, request):
    sid, e = vm.id, vm.env
    cur = ok(vm.nova.get(f"servers/{sid}"))["server"]["flavor"]["id"]
    # grow to a flavor with more memory than the current one, revert, grow, confirm
    target = "2" if cur == "1" else None
    if target is None:
        flv = ok(vm.nova.post("flavors", json={"flavor": {
            "name": f"act-big-{e.id}", "ram": 768, "vcpus": 1, "disk": 20}}))["flavor"]
        target = flv["id"]
        request.addfinalizer(lambda: vm.nova.delete(f"flavors/{target}"))
    cli(vm, "server", "resize", "--flavor", target, sid)
    e.wait(sid, "VERIFY_RESIZE", timeout=240)
    cli(vm, "server", "resize", "revert", sid)
    e.wait(sid, "ACTIVE", timeout=240)
    cli(vm, "server", "resize", "--flavor", target, sid)
    e.wait(sid, "VERIFY_RESIZE", timeout=240)
    cli(vm, "server", "resize", "confirm", sid)
    s = e.wait(sid, "ACTIVE", timeout=120)
    assert s["flavor"]["id"] == target

    cli(vm, "server", "rebuild", "--image", e.image_id, sid)
    e.wait(sid, "ACTIVE", timeout=240)

    name = f"cli-snap-{e.id}"
    out = cli(vm, "server", "image", "create", "--name", name, "-f", "value", "-c", "id",
              sid).stdout.strip()
    e.images.append(out)
    img = wait_for(lambda: (lambda i: i if i["status"] == "active" else None)(
        e.glance.get(f"v2/images/{out}").json()), timeout=300, interval=2, what="CLI snapshot")
    assert img["name"] == name
    e.wait(sid, "ACTIVE", timeout=60)
