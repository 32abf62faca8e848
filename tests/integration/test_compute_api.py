"""The Compute service's smaller APIs (Nova v2.1/2.2) against a real `kumo all`
(conftest.py, no compute agent): flavors (list, detail, filters, paging, show,
create, delete, extra specs, access to private flavors), keypairs (import and
generate, MD5 fingerprints as ssh-keygen prints them, x509, 2.1 vs 2.2
status codes and the type field, per-user visibility, quota), availability
zones, quota sets, limits, services, hypervisors, server groups and
extensions; plus the real `openstack` and `nova` CLIs on top of them.

The shared fixture has no compute agent: the scheduler and conductor
register their own service rows; the tests add a compute service and node
row of their own (directly in the database) where hosts are needed.
"""

import json
import os
import re
import sqlite3
import subprocess
import time
import uuid

import pytest


# ---------------------------------------------------------------- helpers

def ok(r, code=200):
    assert r.status_code == code, f"{r.status_code} {r.text}"
    return r.json() if r.content else None


def err(r, code, text=None):
    """Assert a Nova error body ({"<fault>": {"code", "message"}}); its message."""
    assert r.status_code == code, f"{r.status_code} {r.text}"
    body = r.json()
    assert len(body) == 1, body
    fault = next(iter(body.values()))
    assert fault["code"] == code, body
    if text is not None:
        assert text in fault["message"], fault["message"]
    return fault["message"]


def uniq(prefix="x"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Env:
    """The admin plus two member users, each in a project of its own."""


@pytest.fixture(scope="module")
def env(kumo, admin):
    e = Env()
    tag = uuid.uuid4().hex[:8]
    roles = {r["name"]: r["id"] for r in ok(admin.get("roles"))["roles"]}
    if "member" not in roles:
        roles["member"] = ok(admin.post("roles", {"role": {"name": "member"}}), 201)["role"]["id"]
    e.pw = "pw-" + tag
    for p in ("a", "b"):
        proj = ok(admin.post("projects", {"project": {"name": f"cmp-{p}-{tag}",
                                                      "domain_id": "default"}}), 201)["project"]
        user = ok(admin.post("users", {"user": {"name": f"cmp-{p}-{tag}", "password": e.pw,
                                                "domain_id": "default"}}), 201)["user"]
        ok(admin.put(f"projects/{proj['id']}/users/{user['id']}/roles/{roles['member']}"), 204)
        setattr(e, f"project_{p}", proj["id"])
        setattr(e, f"user_{p}", user["id"])
        setattr(e, f"name_{p}", user["name"])
        setattr(e, f"proj_name_{p}", proj["name"])
        tok = kumo.token(user["name"], e.pw, project=proj["id"])
        setattr(e, f"tok_{p}", tok)
        setattr(e, p, kumo.nova(tok))
        setattr(e, p + "22", kumo.nova(tok, "2.2"))
    e.admin = kumo.nova()
    e.admin22 = kumo.nova(version="2.2")
    e.admin_project = ok(admin.get("auth/projects"))["projects"][0]["id"]
    return e


def compute_db(kumo):
    url = kumo.compute_db_url() if callable(getattr(kumo, "compute_db_url", None)) else None
    if not url or not url.startswith("sqlite:///"):
        pytest.skip("needs the SQLite compute database")
    return url[len("sqlite:///"):]


def sql(kumo, statement, args=()):
    con = sqlite3.connect(compute_db(kumo), timeout=30)
    try:
        cur = con.execute(statement, args)
        rows = cur.fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def cli(kumo, *args, check=True, env=None):
    p = subprocess.run(list(args), env=env or kumo.cli_env(), capture_output=True, text=True,
                       timeout=120)
    if check:
        assert p.returncode == 0, f"{args}: {p.stdout}\n{p.stderr}"
    return p


def ssh_keypair(tmp_path, kind="rsa"):
    path = tmp_path / f"id_{kind}_{uuid.uuid4().hex[:6]}"
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "me@example",
                    "-f", str(path)], check=True, capture_output=True)
    pub = (path.parent / (path.name + ".pub")).read_text()
    out = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(path) + ".pub"],
                         check=True, capture_output=True, text=True).stdout
    fp = re.search(r"MD5:([0-9a-f:]+)", out).group(1)
    return path, pub, fp


# ---------------------------------------------------------------- flavors

def test_flavor_list_seeded(env):
    fl = ok(env.a.get("flavors"))
    names = {f["name"]: f for f in fl["flavors"]}
    for n in ("m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"):
        assert n in names
    tiny = names["m1.tiny"]
    assert set(tiny) == {"id", "name", "links"} and tiny["id"] == "1"
    rels = {link["rel"]: link["href"] for link in tiny["links"]}
    assert rels["self"].endswith("/v2.1/flavors/1")
    assert rels["bookmark"].endswith("/flavors/1") and "/v2.1/" not in rels["bookmark"]
    assert "flavors_links" not in fl


def test_flavor_detail_and_show(env):
    det = {f["id"]: f for f in ok(env.a.get("flavors/detail"))["flavors"]}
    tiny = det["1"]
    assert tiny["ram"] == 512 and tiny["vcpus"] == 1 and tiny["disk"] == 1
    assert tiny["swap"] == "" and tiny["OS-FLV-EXT-DATA:ephemeral"] == 0
    assert tiny["rxtx_factor"] == 1.0
    assert tiny["os-flavor-access:is_public"] is True
    assert tiny["OS-FLV-DISABLED:disabled"] is False
    assert set(tiny) == {"id", "name", "ram", "vcpus", "disk", "swap", "rxtx_factor", "links",
                         "OS-FLV-EXT-DATA:ephemeral", "os-flavor-access:is_public",
                         "OS-FLV-DISABLED:disabled"}
    shown = ok(env.a.get("flavors/2"))["flavor"]
    assert shown == det["2"]
    err(env.a.get("flavors/nope"), 404, "Flavor nope could not be found.")


def test_flavor_filters_sort_paging(env):
    big = [f["id"] for f in ok(env.a.get("flavors", params={"minRam": 4096}))["flavors"]]
    assert "1" not in big and "2" not in big and {"3", "4", "5"} <= set(big)
    disk = [f["id"] for f in ok(env.a.get("flavors", params={"minDisk": 80}))["flavors"]]
    assert "3" not in disk and {"4", "5"} <= set(disk)
    err(env.a.get("flavors", params={"minRam": "lots"}), 400, "Invalid minRam filter")
    err(env.a.get("flavors", params={"minDisk": "x"}), 400, "Invalid minDisk filter")
    desc = ok(env.a.get("flavors/detail", params={"sort_key": "memory_mb",
                                                  "sort_dir": "desc"}))["flavors"]
    rams = [f["ram"] for f in desc]
    assert rams == sorted(rams, reverse=True)
    err(env.a.get("flavors", params={"sort_dir": "up"}), 400)
    err(env.a.get("flavors", params={"sort_key": "bogus"}), 400)
    # pages of two, following the next links
    page = ok(env.a.get("flavors", params={"limit": 2}))
    assert len(page["flavors"]) == 2
    nxt = page["flavors_links"][0]
    assert nxt["rel"] == "next" and "marker=" + page["flavors"][-1]["id"] in nxt["href"]
    seen = [f["id"] for f in page["flavors"]]
    while "flavors_links" in page:
        page = ok(env.a.get(page["flavors_links"][0]["href"]))
        seen += [f["id"] for f in page["flavors"]]
    every = [f["id"] for f in ok(env.a.get("flavors"))["flavors"]]
    assert seen == every
    after = ok(env.a.get("flavors", params={"marker": "2"}))["flavors"]
    assert [f["id"] for f in after] == every[every.index("2") + 1:]
    err(env.a.get("flavors", params={"marker": "no-such"}), 400, "marker [no-such] not found")
    err(env.a.get("flavors", params={"limit": "x"}), 400)
    err(env.a.get("flavors", params={"limit": -1}), 400)


def test_flavor_create_delete(env):
    name = uniq("flv")
    body = {"flavor": {"name": name, "ram": 128, "vcpus": 1, "disk": 1}}
    err(env.a.post("flavors", body), 403, "os_compute_api:os-flavor-manage:create")
    f = ok(env.admin.post("flavors", body))["flavor"]
    assert uuid.UUID(f["id"]) and f["name"] == name and f["ram"] == 128
    assert f["swap"] == "" and f["os-flavor-access:is_public"] is True
    err(env.admin.post("flavors", body), 409, f"Flavor with name {name} already exists.")
    # given id, string numbers, swap, ephemeral, rxtx
    fid = uniq("id")
    g = ok(env.admin.post("flavors", {"flavor": {
        "name": uniq("flv"), "id": fid, "ram": "256", "vcpus": "2", "disk": "0",
        "swap": 64, "OS-FLV-EXT-DATA:ephemeral": 2, "rxtx_factor": 2.5}}))["flavor"]
    assert g["id"] == fid and g["ram"] == 256 and g["vcpus"] == 2 and g["swap"] == 64
    assert g["OS-FLV-EXT-DATA:ephemeral"] == 2 and g["rxtx_factor"] == 2.5
    err(env.admin.post("flavors", {"flavor": {"name": uniq(), "id": fid, "ram": 1, "vcpus": 1,
                                              "disk": 0}}), 409,
        f"Flavor with ID {fid} already exists.")
    ok(env.a.get(f"flavors/{fid}"))
    # bad input
    for bad in ({"name": "x", "ram": 0, "vcpus": 1, "disk": 0},
                {"name": "x", "ram": 1, "vcpus": 0, "disk": 0},
                {"name": "x", "ram": 1, "vcpus": 1, "disk": -1},
                {"name": "x", "ram": 1, "vcpus": 1},
                {"name": " x", "ram": 1, "vcpus": 1, "disk": 0},
                {"name": "", "ram": 1, "vcpus": 1, "disk": 0},
                {"name": "x", "ram": "lots", "vcpus": 1, "disk": 0},
                {"name": "x", "ram": 1.5, "vcpus": 1, "disk": 0},
                {"name": "x", "ram": 2 ** 31, "vcpus": 1, "disk": 0},
                {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "rxtx_factor": 0},
                {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "id": "bad/id"},
                {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "bogus": 1},
                {"name": "x", "ram": 1, "vcpus": 1, "disk": 0,
                 "os-flavor-access:is_public": "maybe"}):
        err(env.admin.post("flavors", {"flavor": bad}), 400)
    err(env.admin.post("flavors", {"flavour": {}}), 400)
    # delete
    err(env.a.delete(f"flavors/{fid}"), 403)
    ok(env.admin.delete(f"flavors/{fid}"), 202)
    err(env.admin.get(f"flavors/{fid}"), 404)
    err(env.admin.delete(f"flavors/{fid}"), 404)
    ok(env.admin.delete(f"flavors/{f['id']}"), 202)


def test_flavor_extra_specs(env):
    f = ok(env.admin.post("flavors", {"flavor": {"name": uniq("spec"), "ram": 64, "vcpus": 1,
                                                 "disk": 0}}))["flavor"]
    base = f"flavors/{f['id']}/os-extra_specs"
    assert ok(env.a.get(base)) == {"extra_specs": {}}
    got = ok(env.admin.post(base, {"extra_specs": {"hw:cpu_policy": "shared", "n": 3,
                                                   "flag": True}}))
    assert got == {"extra_specs": {"hw:cpu_policy": "shared", "n": "3", "flag": "True"}}
    err(env.a.post(base, {"extra_specs": {"k": "v"}}), 403)
    assert ok(env.a.get(base))["extra_specs"]["n"] == "3"
    assert ok(env.a.get(f"{base}/hw:cpu_policy")) == {"hw:cpu_policy": "shared"}
    assert ok(env.admin.put(f"{base}/n", {"n": "4"})) == {"n": "4"}
    err(env.admin.put(f"{base}/n", {"m": "4"}), 400, "Request body and URI mismatch")
    err(env.admin.put(f"{base}/n", {"n": "4", "m": "5"}), 400,
        "Request body contains too many items")
    err(env.admin.post(base, {"extra_specs": {"bad/key": "v"}}), 400)
    err(env.admin.post(base, {"extra_specs": {"k": "v" * 256}}), 400)
    err(env.admin.post(base, {"specs": {}}), 400)
    err(env.a.delete(f"{base}/n"), 403)
    ok(env.admin.delete(f"{base}/n"), 200)
    err(env.admin.get(f"{base}/n"), 404, f"Flavor {f['id']} has no extra specs with key n.")
    err(env.admin.delete(f"{base}/n"), 404)
    err(env.admin.get("flavors/nope/os-extra_specs"), 404)
    ok(env.admin.delete(f"flavors/{f['id']}"), 202)


def test_flavor_private_access(env):
    name = uniq("priv")
    f = ok(env.admin.post("flavors", {"flavor": {
        "name": name, "ram": 64, "vcpus": 1, "disk": 0,
        "os-flavor-access:is_public": False}}))["flavor"]
    fid = f["id"]
    assert f["os-flavor-access:is_public"] is False
    # invisible to members, and to the admin's default listing
    err(env.a.get(f"flavors/{fid}"), 404)
    assert fid not in [x["id"] for x in ok(env.a.get("flavors"))["flavors"]]
    assert fid not in [x["id"] for x in ok(env.admin.get("flavors"))["flavors"]]
    allf = [x["id"] for x in ok(env.admin.get("flavors", params={"is_public": "None"}))["flavors"]]
    assert fid in allf and "1" in allf
    priv = [x["id"] for x in ok(env.admin.get("flavors",
                                              params={"is_public": "false"}))["flavors"]]
    assert fid in priv and "1" not in priv
    err(env.admin.get("flavors", params={"is_public": "perhaps"}), 400)
    ok(env.admin.get(f"flavors/{fid}"))
    assert ok(env.admin.get(f"flavors/{fid}/os-flavor-access")) == {"flavor_access": []}
    # grant project a
    act = f"flavors/{fid}/action"
    err(env.a.post(act, {"addTenantAccess": {"tenant": env.project_a}}), 403)
    got = ok(env.admin.post(act, {"addTenantAccess": {"tenant": env.project_a}}))
    assert got == {"flavor_access": [{"flavor_id": fid, "tenant_id": env.project_a}]}
    err(env.admin.post(act, {"addTenantAccess": {"tenant": env.project_a}}), 409)
    ok(env.a.get(f"flavors/{fid}"))
    assert fid in [x["id"] for x in ok(env.a.get("flavors"))["flavors"]]
    err(env.b.get(f"flavors/{fid}"), 404)
    assert fid not in [x["id"] for x in ok(env.b.get("flavors/detail"))["flavors"]]
    err(env.admin.post(act, {"addTenantAccess": {}}), 400)
    err(env.admin.post(act, {"frobnicate": {}}), 400)
    # public flavors have no access list
    err(env.admin.get("flavors/1/os-flavor-access"), 404,
        "Access list not available for public flavors.")
    err(env.admin.post("flavors/1/action", {"addTenantAccess": {"tenant": env.project_a}}), 409)
    # revoke
    got = ok(env.admin.post(act, {"removeTenantAccess": {"tenant": env.project_a}}))
    assert got == {"flavor_access": []}
    err(env.admin.post(act, {"removeTenantAccess": {"tenant": env.project_a}}), 404)
    err(env.a.get(f"flavors/{fid}"), 404)
    ok(env.admin.delete(f"flavors/{fid}"), 202)


# ---------------------------------------------------------------- keypairs

def test_keypair_import_fingerprint(env, tmp_path):
    for kind in ("rsa", "ed25519", "ecdsa"):
        _, pub, fp = ssh_keypair(tmp_path, kind)
        name = uniq("kp")
        kp = ok(env.a.post("os-keypairs", {"keypair": {"name": name, "public_key": pub}}))
        kp = kp["keypair"]
        assert kp["fingerprint"] == fp, kind
        assert kp["name"] == name and kp["public_key"] == pub and kp["user_id"] == env.user_a
        assert "private_key" not in kp and "type" not in kp
        shown = ok(env.a.get(f"os-keypairs/{name}"))["keypair"]
        assert shown["fingerprint"] == fp and isinstance(shown["id"], int)
        assert shown["deleted"] is False and shown["deleted_at"] is None
        assert shown["updated_at"] is None and shown["created_at"]
        assert "type" not in shown
        ok(env.a.delete(f"os-keypairs/{name}"), 202)


def test_keypair_generate(env, tmp_path):
    name = uniq("gen")
    kp = ok(env.a.post("os-keypairs", {"keypair": {"name": name}}))["keypair"]
    assert kp["public_key"].startswith("ssh-rsa ")
    assert "PRIVATE KEY-----" in kp["private_key"]
    # the private key matches the public one and the fingerprint
    keyfile = tmp_path / "gen"
    keyfile.write_text(kp["private_key"])
    keyfile.chmod(0o600)
    pub = subprocess.run(["ssh-keygen", "-y", "-f", str(keyfile)], check=True,
                         capture_output=True, text=True).stdout.split()[:2]
    assert pub == kp["public_key"].split()[:2]
    (tmp_path / "gen.pub").write_text(kp["public_key"] + "\n")
    out = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(tmp_path / "gen.pub")],
                         check=True, capture_output=True, text=True).stdout
    assert "MD5:" + kp["fingerprint"] in out
    assert "private_key" not in ok(env.a.get(f"os-keypairs/{name}"))["keypair"]
    listed = ok(env.a.get("os-keypairs"))["keypairs"]
    mine = [k["keypair"] for k in listed if k["keypair"]["name"] == name]
    assert mine and set(mine[0]) == {"name", "public_key", "fingerprint"}
    ok(env.a.delete(f"os-keypairs/{name}"), 202)


def test_keypair_errors_and_isolation(env, tmp_path):
    _, pub, _ = ssh_keypair(tmp_path)
    name = uniq("iso")
    ok(env.a.post("os-keypairs", {"keypair": {"name": name, "public_key": pub}}))
    err(env.a.post("os-keypairs", {"keypair": {"name": name, "public_key": pub}}), 409,
        f"Key pair '{name}' already exists.")
    # another user neither sees nor deletes it, and may use the same name
    err(env.b.get(f"os-keypairs/{name}"), 404)
    err(env.b.delete(f"os-keypairs/{name}"), 404)
    assert name not in [k["keypair"]["name"] for k in ok(env.b.get("os-keypairs"))["keypairs"]]
    ok(env.b.post("os-keypairs", {"keypair": {"name": name, "public_key": pub}}))
    ok(env.b.delete(f"os-keypairs/{name}"), 202)
    err(env.a.post("os-keypairs", {"keypair": {"name": "bad*name", "public_key": pub}}), 400,
        "Keypair data is invalid: Keypair name contains unsafe characters")
    ok(env.a.post("os-keypairs", {"keypair": {"name": "ok.name@x y_z-1", "public_key": pub}}))
    ok(env.a.delete("os-keypairs/ok.name@x y_z-1"), 202)
    err(env.a.post("os-keypairs", {"keypair": {"name": "x" * 256, "public_key": pub}}), 400)
    err(env.a.post("os-keypairs", {"keypair": {"name": "", "public_key": pub}}), 400)
    err(env.a.post("os-keypairs", {"keypair": {"public_key": pub}}), 400)
    err(env.a.post("os-keypairs", {"keypair": {"name": uniq(), "public_key": "ssh-rsa AAAA"}}),
        400, "Keypair data is invalid: failed to generate fingerprint")
    err(env.a.post("os-keypairs", {"keypair": {"name": uniq(), "public_key": "garbage"}}), 400,
        "failed to generate fingerprint")
    # a key whose blob says another type than its text
    blob_type_lie = "ssh-ed25519 " + pub.split()[1]
    err(env.a.post("os-keypairs", {"keypair": {"name": uniq(), "public_key": blob_type_lie}}),
        400)
    # type is 2.2+
    err(env.a.post("os-keypairs", {"keypair": {"name": uniq(), "type": "ssh"}}), 400)
    err(env.a.get("os-keypairs/none-such"), 404)
    ok(env.a.delete(f"os-keypairs/{name}"), 202)


def test_keypair_v22(env, tmp_path):
    _, pub, fp = ssh_keypair(tmp_path)
    name = uniq("v22")
    r = env.a22.post("os-keypairs", {"keypair": {"name": name, "public_key": pub}})
    kp = ok(r, 201)["keypair"]
    assert kp["type"] == "ssh" and kp["fingerprint"] == fp
    assert ok(env.a22.get(f"os-keypairs/{name}"))["keypair"]["type"] == "ssh"
    listed = [k["keypair"] for k in ok(env.a22.get("os-keypairs"))["keypairs"]]
    assert all("type" in k for k in listed)
    ok(env.a22.delete(f"os-keypairs/{name}"), 204)
    err(env.a22.post("os-keypairs", {"keypair": {"name": uniq(), "type": "pgp"}}), 400)
    # x509: generated certificate, and an imported one
    x = ok(env.a22.post("os-keypairs", {"keypair": {"name": uniq("x5"), "type": "x509"}}),
           201)["keypair"]
    assert x["type"] == "x509" and "BEGIN CERTIFICATE" in x["public_key"]
    certfile = tmp_path / "c.pem"
    certfile.write_text(x["public_key"])
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in",
                          str(certfile)], check=True, capture_output=True, text=True).stdout
    assert out.strip().split("=", 1)[1].lower() == x["fingerprint"]
    ok(env.a22.delete(f"os-keypairs/{x['name']}"), 204)
    imp = ok(env.a22.post("os-keypairs", {"keypair": {"name": uniq("x5i"), "type": "x509",
                                                      "public_key": x["public_key"]}}),
             201)["keypair"]
    assert imp["fingerprint"] == x["fingerprint"] and "private_key" not in imp
    ok(env.a22.delete(f"os-keypairs/{imp['name']}"), 204)
    err(env.a22.post("os-keypairs", {"keypair": {"name": uniq(), "type": "x509",
                                                 "public_key": pub}}), 400)


def test_keypair_quota(env, tmp_path):
    _, pub, _ = ssh_keypair(tmp_path)
    ok(env.admin.put(f"os-quota-sets/{env.project_b}", {"quota_set": {"key_pairs": 1}}))
    try:
        have = len(ok(env.b.get("os-keypairs"))["keypairs"])
        assert have == 0
        ok(env.b.post("os-keypairs", {"keypair": {"name": "q1", "public_key": pub}}))
        err(env.b.post("os-keypairs", {"keypair": {"name": "q2", "public_key": pub}}), 403,
            "Quota exceeded, too many key pairs.")
        ok(env.b.delete("os-keypairs/q1"), 202)
    finally:
        ok(env.admin.delete(f"os-quota-sets/{env.project_b}"), 202)


# ---------------------------------------------------------------- zones, services, hosts

HOST = "cmp-test-host"


@pytest.fixture(scope="module")
def fake_host(kumo, env):
    """A nova-compute service and compute node row for HOST (no real agent)."""
    now = int(time.time() * 1e6)
    sql(kumo, "INSERT INTO cmp_service (binary_name, host, topic, disabled, forced_down, "
        "report_count, last_seen_at, created_at, updated_at, uuid) VALUES "
        "('nova-compute', ?, 'compute', 0, 0, 1, ?, ?, ?, ?)",
        (HOST, now, now, now, str(uuid.uuid4())))
    sql(kumo, "INSERT INTO cmp_compute_node (host, hypervisor_hostname, hypervisor_type, "
        "hypervisor_version, vcpus, memory_mb, local_gb, cpu_info, host_ip, "
        "reserved_host_memory_mb, availability_zone, created_at, updated_at) VALUES "
        "(?, ?, 'QEMU', 8002000, 8, 16384, 100, '{\"arch\": \"x86_64\"}', '10.0.0.5', 512, "
        "'nova', ?, ?)", (HOST, HOST + ".example", now, now))
    sql(kumo, "INSERT INTO cmp_allocation (instance_id, host, vcpus, memory_mb, disk_gb, "
        "created_at) VALUES (?, ?, 2, 1024, 10, ?)", (str(uuid.uuid4()), HOST, now))
    sid = sql(kumo, "SELECT id FROM cmp_service WHERE host = ? AND binary_name = "
              "'nova-compute'", (HOST,))[0][0]
    yield sid
    sql(kumo, "DELETE FROM cmp_allocation WHERE host = ?", (HOST,))
    sql(kumo, "DELETE FROM cmp_compute_node WHERE host = ?", (HOST,))
    sql(kumo, "DELETE FROM cmp_service WHERE host = ?", (HOST,))


def heartbeat(kumo):
    sql(kumo, "UPDATE cmp_service SET last_seen_at = ? WHERE host = ?",
        (int(time.time() * 1e6), HOST))


def test_services(kumo, env, fake_host):
    heartbeat(kumo)
    svcs = ok(env.admin.get("os-services"))["services"]
    by = {(s["binary"], s["host"]): s for s in svcs}
    comp = by[("nova-compute", HOST)]
    assert comp == {"id": fake_host, "binary": "nova-compute", "host": HOST, "zone": "nova",
                    "status": "enabled", "state": "up", "updated_at": comp["updated_at"],
                    "disabled_reason": None}
    assert comp["updated_at"].endswith("Z")
    others = [s for s in svcs if s["binary"] in ("nova-scheduler", "nova-conductor")]
    assert all(s["zone"] == "internal" for s in others)
    only = ok(env.admin.get("os-services", params={"binary": "nova-compute",
                                                   "host": HOST}))["services"]
    assert [s["id"] for s in only] == [fake_host]
    err(env.a.get("os-services"), 403)
    # disable, with a reason, enable
    body = {"host": HOST, "binary": "nova-compute"}
    assert ok(env.admin.put("os-services/disable", body)) == {
        "service": {"host": HOST, "binary": "nova-compute", "status": "disabled"}}
    got = ok(env.admin.put("os-services/disable-log-reason",
                           dict(body, disabled_reason="maintenance")))["service"]
    assert got["disabled_reason"] == "maintenance" and got["status"] == "disabled"
    s = [x for x in ok(env.admin.get("os-services"))["services"] if x["id"] == fake_host][0]
    assert s["status"] == "disabled" and s["disabled_reason"] == "maintenance"
    err(env.admin.put("os-services/disable-log-reason", body), 400,
        "Missing disabled reason field")
    assert ok(env.admin.put("os-services/enable", body))["service"]["status"] == "enabled"
    s = [x for x in ok(env.admin.get("os-services"))["services"] if x["id"] == fake_host][0]
    assert s["status"] == "enabled" and s["disabled_reason"] is None
    err(env.admin.put("os-services/enable", {"host": "nowhere", "binary": "nova-compute"}),
        404)
    err(env.admin.put("os-services/enable", {"host": HOST}), 400)
    err(env.admin.put("os-services/force-down", dict(body, forced_down=True)), 404)
    err(env.a.put("os-services/enable", body), 403)
    err(env.admin.delete("os-services/abc"), 400)
    err(env.admin.delete("os-services/999999"), 404)


def test_service_down_and_delete(kumo, env):
    host = uniq("gone")
    long_ago = int((time.time() - 3600) * 1e6)
    sql(kumo, "INSERT INTO cmp_service (binary_name, host, topic, last_seen_at, created_at, "
        "updated_at, uuid) VALUES ('nova-compute', ?, 'compute', ?, ?, ?, ?)",
        (host, long_ago, long_ago, long_ago, str(uuid.uuid4())))
    s = [x for x in ok(env.admin.get("os-services"))["services"] if x["host"] == host][0]
    assert s["state"] == "down"
    err(env.a.delete(f"os-services/{s['id']}"), 403)
    ok(env.admin.delete(f"os-services/{s['id']}"), 204)
    assert host not in [x["host"] for x in ok(env.admin.get("os-services"))["services"]]


def test_availability_zones(kumo, env, fake_host):
    heartbeat(kumo)
    zones = ok(env.a.get("os-availability-zone"))["availabilityZoneInfo"]
    assert {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None} in zones
    assert "internal" not in [z["zoneName"] for z in zones]
    err(env.a.get("os-availability-zone/detail"), 403)
    det = {z["zoneName"]: z for z in
           ok(env.admin.get("os-availability-zone/detail"))["availabilityZoneInfo"]}
    hosts = det["nova"]["hosts"]
    assert hosts[HOST]["nova-compute"]["available"] is True
    assert hosts[HOST]["nova-compute"]["active"] is True
    assert "internal" in det
    assert any("nova-scheduler" in h or "nova-conductor" in h
               for h in det["internal"]["hosts"].values())


def test_hypervisors(kumo, env, fake_host):
    heartbeat(kumo)
    hyps = ok(env.admin.get("os-hypervisors"))["hypervisors"]
    mine = [h for h in hyps if h["hypervisor_hostname"] == HOST + ".example"]
    assert mine == [{"id": fake_host, "hypervisor_hostname": HOST + ".example",
                     "state": "up", "status": "enabled"}]
    det = [h for h in ok(env.admin.get("os-hypervisors/detail"))["hypervisors"]
           if h["id"] == fake_host][0]
    assert det["vcpus"] == 8 and det["vcpus_used"] == 2
    assert det["memory_mb"] == 16384 and det["memory_mb_used"] == 1024 + 512
    assert det["free_ram_mb"] == 16384 - 1536
    assert det["local_gb"] == 100 and det["local_gb_used"] == 10 and det["free_disk_gb"] == 90
    assert det["hypervisor_type"] == "QEMU" and det["host_ip"] == "10.0.0.5"
    assert det["service"] == {"id": fake_host, "host": HOST, "disabled_reason": None}
    assert json.loads(det["cpu_info"]) == {"arch": "x86_64"}
    assert ok(env.admin.get(f"os-hypervisors/{fake_host}"))["hypervisor"] == det
    err(env.admin.get("os-hypervisors/99999"), 404)
    err(env.admin.get("os-hypervisors/99999/uptime"), 404)
    err(env.admin.get(f"os-hypervisors/{fake_host}/uptime"), 501)  # not this host
    err(env.admin.get("os-hypervisors/abc"), 404)
    st = ok(env.admin.get("os-hypervisors/statistics"))["hypervisor_statistics"]
    assert st["count"] >= 1 and st["vcpus"] >= 8 and st["vcpus_used"] >= 2
    found = ok(env.admin.get(f"os-hypervisors/{HOST[:8]}/search"))["hypervisors"]
    assert [h["id"] for h in found] == [fake_host]
    err(env.admin.get("os-hypervisors/zzz-no-such/search"), 404)
    srv = ok(env.admin.get(f"os-hypervisors/{HOST}/servers"))["hypervisors"]
    assert srv[0]["id"] == fake_host and "servers" not in srv[0]
    err(env.a.get("os-hypervisors"), 403)
    err(env.a.get("os-hypervisors/statistics"), 403)


# ---------------------------------------------------------------- quotas and limits

QUOTA_KEYS = {"instances", "cores", "ram", "floating_ips", "fixed_ips", "metadata_items",
              "key_pairs", "security_groups", "security_group_rules", "injected_files",
              "injected_file_content_bytes", "injected_file_path_bytes", "server_groups",
              "server_group_members"}


def test_quota_sets(env):
    q = ok(env.a.get(f"os-quota-sets/{env.project_a}"))["quota_set"]
    assert set(q) == QUOTA_KEYS | {"id"} and q["id"] == env.project_a
    assert q["instances"] == 10 and q["cores"] == 20 and q["ram"] == 51200
    assert q["key_pairs"] == 100 and q["metadata_items"] == 128
    d = ok(env.a.get(f"os-quota-sets/{env.project_a}/defaults"))["quota_set"]
    assert d == q
    det = ok(env.a.get(f"os-quota-sets/{env.project_a}/detail"))["quota_set"]
    assert det["instances"] == {"limit": 10, "in_use": 0, "reserved": 0}
    err(env.a.get(f"os-quota-sets/{env.project_b}"), 403)
    err(env.a.put(f"os-quota-sets/{env.project_a}", {"quota_set": {"instances": 5}}), 403)
    u = ok(env.admin.put(f"os-quota-sets/{env.project_a}",
                         {"quota_set": {"instances": 5, "cores": "7", "ram": -1}}))["quota_set"]
    assert set(u) == QUOTA_KEYS and u["instances"] == 5 and u["cores"] == 7 and u["ram"] == -1
    q = ok(env.a.get(f"os-quota-sets/{env.project_a}"))["quota_set"]
    assert q["instances"] == 5 and q["cores"] == 7
    assert ok(env.a.get(f"os-quota-sets/{env.project_a}/defaults"))["quota_set"]["instances"] \
        == 10
    lim = ok(env.a.get("limits"))["limits"]["absolute"]
    assert lim["maxTotalInstances"] == 5 and lim["maxTotalCores"] == 7
    for bad in ({"instances": -2}, {"instances": "many"}, {"bogus": 1},
                {"instances": 2 ** 31}, {"instances": 1.5}):
        err(env.admin.put(f"os-quota-sets/{env.project_a}", {"quota_set": bad}), 400)
    err(env.admin.put(f"os-quota-sets/{env.project_a}", {"quota": {}}), 400)
    err(env.a.delete(f"os-quota-sets/{env.project_a}"), 403)
    ok(env.admin.delete(f"os-quota-sets/{env.project_a}"), 202)
    assert ok(env.a.get(f"os-quota-sets/{env.project_a}"))["quota_set"]["instances"] == 10


def test_limits(env):
    body = ok(env.a.get("limits"))
    assert body["limits"]["rate"] == []
    a = body["limits"]["absolute"]
    for k in ("maxTotalInstances", "maxTotalCores", "maxTotalRAMSize", "maxServerMeta",
              "maxImageMeta", "maxPersonality", "maxPersonalitySize", "maxTotalKeypairs",
              "maxServerGroups", "maxServerGroupMembers", "maxSecurityGroups",
              "maxSecurityGroupRules", "maxTotalFloatingIps", "totalInstancesUsed",
              "totalCoresUsed", "totalRAMUsed", "totalSecurityGroupsUsed",
              "totalFloatingIpsUsed", "totalServerGroupsUsed"):
        assert isinstance(a[k], int), k
    assert a["maxTotalInstances"] == 10 and a["totalInstancesUsed"] == 0
    assert a["maxTotalRAMSize"] == 51200 and a["maxServerMeta"] == 128
    err(env.a.get("limits", params={"tenant_id": env.project_b}), 403)
    other = ok(env.admin.get("limits", params={"tenant_id": env.project_b}))
    assert other["limits"]["absolute"]["maxTotalInstances"] == 10


# ---------------------------------------------------------------- server groups

def test_server_groups(env):
    g = ok(env.a.post("os-server-groups", {"server_group": {"name": "grp",
                                                            "policies": ["affinity"]}}))
    g = g["server_group"]
    assert g["name"] == "grp" and g["policies"] == ["affinity"] and g["members"] == []
    assert g["metadata"] == {} and set(g) == {"id", "name", "policies", "members", "metadata"}
    assert ok(env.a.get(f"os-server-groups/{g['id']}"))["server_group"] == g
    assert g["id"] in [x["id"] for x in ok(env.a.get("os-server-groups"))["server_groups"]]
    assert g["id"] not in [x["id"] for x in ok(env.b.get("os-server-groups"))["server_groups"]]
    err(env.b.get(f"os-server-groups/{g['id']}"), 403)
    err(env.b.delete(f"os-server-groups/{g['id']}"), 403)
    assert g["id"] not in [x["id"] for x in
                           ok(env.admin.get("os-server-groups"))["server_groups"]]
    assert g["id"] in [x["id"] for x in ok(env.admin.get(
        "os-server-groups", params={"all_projects": "True"}))["server_groups"]]
    assert g["id"] not in [x["id"] for x in ok(env.b.get(
        "os-server-groups", params={"all_projects": "True"}))["server_groups"]]
    h = ok(env.a.post("os-server-groups", {"server_group": {
        "name": "anti", "policies": ["anti-affinity"]}}))["server_group"]
    page = ok(env.a.get("os-server-groups", params={"limit": 1}))["server_groups"]
    assert len(page) == 1
    page2 = ok(env.a.get("os-server-groups", params={"limit": 1, "offset": 1}))["server_groups"]
    assert len(page2) == 1 and page2[0]["id"] != page[0]["id"]
    for bad in ({"name": "x", "policies": ["soft-affinity"]},
                {"name": "x", "policies": []},
                {"name": "x", "policies": ["affinity", "anti-affinity"]},
                {"name": "x", "policies": "affinity"},
                {"name": "x"}, {"policies": ["affinity"]},
                {"name": "", "policies": ["affinity"]},
                {"name": "x", "policies": ["affinity"], "rules": {}}):
        err(env.a.post("os-server-groups", {"server_group": bad}), 400)
    ok(env.a.delete(f"os-server-groups/{g['id']}"), 204)
    err(env.a.get(f"os-server-groups/{g['id']}"), 404,
        f"Instance group {g['id']} could not be found.")
    err(env.a.delete(f"os-server-groups/{g['id']}"), 404)
    # quota
    ok(env.admin.put(f"os-quota-sets/{env.project_a}", {"quota_set": {"server_groups": 1}}))
    try:
        err(env.a.post("os-server-groups", {"server_group": {
            "name": "over", "policies": ["affinity"]}}), 403, "Quota exceeded")
    finally:
        ok(env.admin.delete(f"os-quota-sets/{env.project_a}"), 202)
    ok(env.a.delete(f"os-server-groups/{h['id']}"), 204)


def test_extensions_and_versions(env):
    assert ok(env.a.get("extensions")) == {"extensions": []}
    r = env.a22.get("os-keypairs")
    assert r.headers["OpenStack-API-Version"] == "compute 2.2"


# ---------------------------------------------------------------- the real CLIs

def test_cli_flavors(kumo, env):
    out = cli(kumo, "openstack", "flavor", "list", "-f", "json").stdout
    names = {f["Name"] for f in json.loads(out)}
    assert {"m1.tiny", "m1.small", "m1.xlarge"} <= names
    out = cli(kumo, "nova", "flavor-list").stdout
    assert "m1.tiny" in out and "512" in out
    show = json.loads(cli(kumo, "openstack", "flavor", "show", "m1.tiny", "-f", "json").stdout)
    assert show["name"] == "m1.tiny" and show["ram"] == 512 and show["id"] == "1"
    name = uniq("cli")
    made = json.loads(cli(kumo, "openstack", "flavor", "create", "--ram", "128", "--disk", "1",
                          "--vcpus", "1", name, "-f", "json").stdout)
    assert made["name"] == name and made["ram"] == 128
    cli(kumo, "openstack", "flavor", "set", "--property", "hw:x=y", name)
    show = json.loads(cli(kumo, "openstack", "flavor", "show", name, "-f", "json").stdout)
    assert "hw:x" in json.dumps(show["properties"])
    cli(kumo, "openstack", "flavor", "delete", name)
    err(env.admin.get(f"flavors/{made['id']}"), 404)


def test_cli_keypairs(kumo, env, tmp_path):
    _, pub, fp = ssh_keypair(tmp_path)
    pubfile = tmp_path / "id.pub"
    pubfile.write_text(pub)
    menv = kumo.cli_env(user=env.name_a, password=env.pw, project=env.proj_name_a)
    cli(kumo, "nova", "keypair-add", "--pub-key", str(pubfile), "mykey", env=menv)
    out = cli(kumo, "nova", "keypair-list", env=menv).stdout
    assert "mykey" in out and fp in out
    cli(kumo, "openstack", "keypair", "create", "--public-key", str(pubfile), "k2", env=menv)
    listed = json.loads(cli(kumo, "openstack", "keypair", "list", "-f", "json",
                            env=menv).stdout)
    got = {k["Name"]: k["Fingerprint"] for k in listed}
    assert got["mykey"] == fp and got["k2"] == fp
    # a generated one: the private key goes to stdout
    out = cli(kumo, "openstack", "keypair", "create", "k3", env=menv).stdout
    assert "PRIVATE KEY" in out
    cli(kumo, "openstack", "keypair", "delete", "mykey", "k2", "k3", env=menv)
    assert ok(env.a.get("os-keypairs"))["keypairs"] == []


def test_cli_misc(kumo, env, fake_host):
    out = cli(kumo, "openstack", "availability", "zone", "list", "--compute", "-f",
              "json").stdout
    assert "nova" in [z["Zone Name"] for z in json.loads(out)]
    q = json.loads(cli(kumo, "openstack", "quota", "show", "-f", "json").stdout)
    assert q.get("instances") == 10 or q.get("Instances") == 10 or "10" in json.dumps(q)
    lim = json.loads(cli(kumo, "openstack", "limits", "show", "--absolute", "-f",
                         "json").stdout)
    assert "maxTotalInstances" in [x["Name"] for x in lim]
    svcs = json.loads(cli(kumo, "openstack", "compute", "service", "list", "-f",
                          "json").stdout)
    assert ("nova-compute", HOST) in {(s["Binary"], s["Host"]) for s in svcs}
    hyps = json.loads(cli(kumo, "openstack", "hypervisor", "list", "-f", "json").stdout)
    assert HOST + ".example" in [h["Hypervisor Hostname"] for h in hyps]
    out = cli(kumo, "nova", "service-list").stdout
    assert HOST in out
    out = cli(kumo, "nova", "hypervisor-list").stdout
    assert HOST + ".example" in out


def test_simple_tenant_usage_and_hypervisor_servers(kumo, env, fake_host):
    iid = str(uuid.uuid4())
    now = time.time()
    flavor = json.dumps({"name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1})
    sql(kumo, "INSERT INTO cmp_instance (id, project_id, user_id, name, flavor_id, flavor, "
        "vcpus, memory_mb, root_gb, vm_state, power_state, host, node, launched_at, "
        "created_at, updated_at) VALUES (?, ?, ?, 'usage-vm', '1', ?, 1, 512, 1, 'active', 1, "
        "?, ?, ?, ?, ?)", (iid, env.project_b, env.user_b, flavor, HOST, HOST,
                           int((now - 7200) * 1e6), int((now - 7300) * 1e6),
                           int(now * 1e6)))
    try:
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 3600))
        end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now + 60))
        u = ok(env.b.get(f"os-simple-tenant-usage/{env.project_b}",
                         params={"start": start, "end": end}))["tenant_usage"]
        assert u["tenant_id"] == env.project_b
        assert 1.0 <= u["total_hours"] <= 1.05
        assert abs(u["total_memory_mb_usage"] - 512 * u["total_hours"]) < 1e-6
        su = u["server_usages"]
        assert len(su) == 1 and su[0]["instance_id"] == iid and su[0]["flavor"] == "m1.tiny"
        assert su[0]["state"] == "active" and su[0]["ended_at"] is None
        assert su[0]["uptime"] >= 7200 and su[0]["local_gb"] == 1
        err(env.a.get(f"os-simple-tenant-usage/{env.project_b}"), 403)
        assert ok(env.a.get(f"os-simple-tenant-usage/{env.project_a}",
                            params={"start": start, "end": end})) == {"tenant_usage": {}}
        err(env.b.get("os-simple-tenant-usage"), 403)
        lst = ok(env.admin.get("os-simple-tenant-usage", params={
            "start": start, "end": end, "detailed": "1"}))["tenant_usages"]
        mine = [t for t in lst if t["tenant_id"] == env.project_b]
        assert mine and mine[0]["server_usages"][0]["instance_id"] == iid
        plain = ok(env.admin.get("os-simple-tenant-usage", params={
            "start": start, "end": end}))["tenant_usages"]
        assert all("server_usages" not in t for t in plain)
        err(env.admin.get("os-simple-tenant-usage", params={"start": end, "end": start}), 400)
        err(env.admin.get("os-simple-tenant-usage", params={"start": "yesterday"}), 400)
        srv = ok(env.admin.get(f"os-hypervisors/{HOST}/servers"))["hypervisors"][0]
        assert srv["servers"] == [{"uuid": iid, "name": "usage-vm"}]
        det = ok(env.admin.get(f"os-hypervisors/{fake_host}"))["hypervisor"]
        assert det["running_vms"] == 1
        out = cli(kumo, "openstack", "usage", "show", "--project", env.project_b,
                  "--start", start[:10], "-f", "json").stdout
        assert json.loads(out)
    finally:
        sql(kumo, "DELETE FROM cmp_instance WHERE id = ?", (iid,))


def test_tempest_response_schemas(kumo, env, fake_host, tmp_path):
    """Every answer Tempest checks passes Tempest's own response schemas."""
    rest_client = pytest.importorskip("tempest.lib.common.rest_client")
    from tempest.lib.api_schema.response.compute.v2_1 import (
        availability_zone, flavors, flavors_access, flavors_extra_specs, hypervisors,
        keypairs, limits, quotas, server_groups, services, tenant_usages)
    from tempest.lib.api_schema.response.compute.v2_2 import keypairs as keypairs22

    class Resp:
        def __init__(self, r):
            self.status = r.status_code

    def check(schema, r):
        body = r.json() if r.content else None
        rest_client.RestClient.validate_response(schema, Resp(r), body)
        return body

    heartbeat(kumo)
    adm, adm22 = env.admin, env.admin22
    check(flavors.list_flavors, adm.get("flavors"))
    check(flavors.list_flavors, adm.get("flavors", params={"limit": 1}))
    check(flavors.list_flavors_details, adm.get("flavors/detail"))
    check(flavors.create_update_get_flavor_details, adm.get("flavors/1"))
    f = check(flavors.create_update_get_flavor_details, adm.post("flavors", {"flavor": {
        "name": uniq("ts"), "ram": 64, "vcpus": 1, "disk": 0, "swap": 1,
        "os-flavor-access:is_public": False}}))["flavor"]
    spec = f"flavors/{f['id']}/os-extra_specs"
    check(flavors_extra_specs.set_get_flavor_extra_specs,
          adm.post(spec, {"extra_specs": {"a": "b"}}))
    check(flavors_extra_specs.set_get_flavor_extra_specs, adm.get(spec))
    check(flavors_extra_specs.set_get_flavor_extra_specs_key, adm.get(spec + "/a"))
    check(flavors_extra_specs.set_get_flavor_extra_specs_key, adm.put(spec + "/a", {"a": "c"}))
    check(flavors_extra_specs.unset_flavor_extra_specs, adm.delete(spec + "/a"))
    act = f"flavors/{f['id']}/action"
    check(flavors_access.add_remove_list_flavor_access,
          adm.post(act, {"addTenantAccess": {"tenant": env.project_a}}))
    check(flavors_access.add_remove_list_flavor_access,
          adm.get(f"flavors/{f['id']}/os-flavor-access"))
    check(flavors_access.add_remove_list_flavor_access,
          adm.post(act, {"removeTenantAccess": {"tenant": env.project_a}}))
    check(flavors.delete_flavor, adm.delete(f"flavors/{f['id']}"))

    _, pub, _ = ssh_keypair(tmp_path)
    check(keypairs.create_keypair, adm.post("os-keypairs", {"keypair": {"name": "ts1"}}))
    check(keypairs.create_keypair, adm.post("os-keypairs", {"keypair": {
        "name": "ts2", "public_key": pub}}))
    check(keypairs.get_keypair, adm.get("os-keypairs/ts1"))
    check(keypairs.list_keypairs, adm.get("os-keypairs"))
    check(keypairs.delete_keypair, adm.delete("os-keypairs/ts1"))
    check(keypairs22.create_keypair, adm22.post("os-keypairs", {"keypair": {"name": "ts3"}}))
    check(keypairs22.get_keypair, adm22.get("os-keypairs/ts3"))
    check(keypairs22.list_keypairs, adm22.get("os-keypairs"))
    check(keypairs22.delete_keypair, adm22.delete("os-keypairs/ts3"))
    check(keypairs22.delete_keypair, adm22.delete("os-keypairs/ts2"))

    check(availability_zone.list_availability_zone_list, adm.get("os-availability-zone"))
    check(availability_zone.list_availability_zone_list_detail,
          adm.get("os-availability-zone/detail"))
    check(quotas.get_quota_set, adm.get(f"os-quota-sets/{env.project_a}"))
    check(quotas.get_quota_set, adm.get(f"os-quota-sets/{env.project_a}/defaults"))
    check(quotas.get_quota_set_details, adm.get(f"os-quota-sets/{env.project_a}/detail"))
    check(quotas.update_quota_set, adm.put(f"os-quota-sets/{env.project_a}",
                                           {"quota_set": {"instances": 11}}))
    check(quotas.delete_quota, adm.delete(f"os-quota-sets/{env.project_a}"))
    check(limits.get_limit, adm.get("limits"))
    check(services.list_services, adm.get("os-services"))
    body = {"host": HOST, "binary": "nova-compute"}
    check(services.enable_disable_service, adm.put("os-services/disable", body))
    check(services.disable_log_reason, adm.put("os-services/disable-log-reason",
                                               dict(body, disabled_reason="x")))
    check(services.enable_disable_service, adm.put("os-services/enable", body))
    check(hypervisors.list_search_hypervisors, adm.get("os-hypervisors"))
    check(hypervisors.list_hypervisors_detail, adm.get("os-hypervisors/detail"))
    check(hypervisors.get_hypervisor, adm.get(f"os-hypervisors/{fake_host}"))
    check(hypervisors.get_hypervisor_statistics, adm.get("os-hypervisors/statistics"))
    check(hypervisors.list_search_hypervisors, adm.get(f"os-hypervisors/{HOST}/search"))
    check(hypervisors.get_hypervisors_servers, adm.get(f"os-hypervisors/{HOST}/servers"))
    g = check(server_groups.create_show_server_group, adm.post("os-server-groups", {
        "server_group": {"name": "ts", "policies": ["affinity"]}}))["server_group"]
    check(server_groups.create_show_server_group, adm.get(f"os-server-groups/{g['id']}"))
    check(server_groups.list_server_groups, adm.get("os-server-groups"))
    check(server_groups.delete_server_group, adm.delete(f"os-server-groups/{g['id']}"))
    check(tenant_usages.list_tenant_usage, adm.get("os-simple-tenant-usage"))
