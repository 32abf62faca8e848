"""The /servers API of the compute service (servers.c, common.c) over real
HTTP against the shared `kumo` fixture ([compute] agent = false: servers stay
BUILD or go ERROR, so these tests check API semantics that need no ACTIVE
server; where a state matters - metadata writes, locks - the test moves the
row itself in the compute database, SQLite only).

Covers: create validation (status, fault name, nothing left behind), create
with an image uploaded to the image service and a network of the network
service, show/list/detail against Tempest's response schemas, list filters,
sorting and pagination, update, delete, addresses, the metadata API, other
projects' servers (404), the instances quota (403 with Nova's message),
multi-create and microversion headers.
"""

import datetime
import sqlite3
import time
import uuid

import pytest
import requests

from conftest import NovaApi

try:
    import jsonschema
    from tempest.lib.api_schema.response.compute.v2_1 import servers as schemas
    from tempest.lib.common.jsonschema_validator import (FORMAT_CHECKER,
                                                         JSONSCHEMA_VALIDATOR)
except ImportError:  # pragma: no cover
    schemas = None


def ok(r, code=200):
    assert r.status_code == code, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    return r.json() if r.text else None


def fault(r, code, name, text=None):
    assert r.status_code == code, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    body = r.json()
    assert list(body) == [name], body
    assert body[name]["code"] == code
    if text is not None:
        assert text in body[name]["message"], body
    return body[name]["message"]


def check_schema(schema, body):
    if schemas is None:
        pytest.skip("tempest/jsonschema not installed")
    jsonschema.validate(body, schema["response_body"], cls=JSONSCHEMA_VALIDATOR,
                        format_checker=FORMAT_CHECKER)


class Env:
    def __init__(self, kumo):
        self.kumo = kumo
        self.tag = uuid.uuid4().hex[:6]
        self.pw = "pw-" + uuid.uuid4().hex[:8]
        self.ident = kumo.client()
        roles = {r["name"]: r["id"] for r in ok(self.ident.get("roles"))["roles"]}
        if "member" not in roles:
            roles["member"] = ok(self.ident.post("roles", {"role": {"name": "member"}}),
                                 201)["role"]["id"]
        self.member_role = roles["member"]
        self.admin = kumo.nova()
        self.admin_glance = kumo.glance()
        self.a = self.project("a")
        db = self.db()          # project a boots many servers
        for res in ("instances", "cores", "ram"):
            db.execute("INSERT INTO cmp_quota (project_id, resource, hard_limit) "
                       "VALUES (?, ?, -1)", (self.a.project_id, res))
        db.close()
        self.b = self.project("b")
        # a public image with a little data
        img = ok(self.admin_glance.post("v2/images", {
            "name": "srv-img-" + self.tag, "disk_format": "qcow2",
            "container_format": "bare", "visibility": "public"}), 201)
        r = self.admin_glance.request("PUT", f"v2/images/{img['id']}/file", data=b"x" * 1024,
                                      headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
        self.image = img["id"]
        # project a's network with a subnet
        self.net = ok(self.a.neutron.post("v2.0/networks", {"network": {
            "name": "srv-net-" + self.tag}}), 201)["network"]
        ok(self.a.neutron.post("v2.0/subnets", {"subnet": {
            "network_id": self.net["id"], "ip_version": 4, "cidr": "10.77.0.0/24"}}), 201)

    def project(self, name):
        pname = f"srv-{name}-{self.tag}"
        proj = ok(self.ident.post("projects", {"project": {"name": pname,
                                                           "domain_id": "default"}}),
                  201)["project"]
        user = ok(self.ident.post("users", {"user": {"name": pname, "password": self.pw,
                                                     "domain_id": "default"}}), 201)["user"]
        ok(self.ident.put(f"projects/{proj['id']}/users/{user['id']}/roles/"
                          f"{self.member_role}"), 204)
        token = self.kumo.token(pname, self.pw, project=proj["id"])
        p = self.kumo.nova(token)
        p.project_id = proj["id"]
        p.user_id = user["id"]
        p.token = token
        p.neutron = self.kumo.neutron(token)
        p.glance = self.kumo.glance(token)
        return p

    def db(self):
        url = self.kumo.compute_db_url()
        if not url.startswith("sqlite:///"):
            pytest.skip("needs the SQLite compute database")
        c = sqlite3.connect(url[len("sqlite:///"):], timeout=30)
        c.isolation_level = None
        return c

    def set_row(self, sid, **cols):
        c = self.db()
        sets = ", ".join(f"{k} = ?" for k in cols)
        c.execute(f"UPDATE cmp_instance SET {sets} WHERE id = ?", (*cols.values(), sid))
        c.close()

    def settle(self, sid, timeout=5.0):
        """Wait until the conductor is done with a new server (ERROR "No valid
        host" without agents), or give up after timeout (no conductor yet)."""
        end = time.time() + timeout
        while time.time() < end:
            row = self.db().execute("SELECT task_state FROM cmp_instance WHERE id = ?",
                                    (sid,)).fetchone()
            if row is None or row[0] != "scheduling":
                return
            time.sleep(0.05)

    def boot(self, api=None, **server):
        api = api or self.a
        body = {"name": "s-" + uuid.uuid4().hex[:8], "imageRef": self.image, "flavorRef": "1"}
        if api is self.a:
            body["networks"] = [{"uuid": self.net["id"]}]
        body.update(server)
        return ok(api.post("servers", {"server": body}), 202)["server"]


@pytest.fixture(scope="module")
def env(kumo):
    return Env(kumo)


def ids(api, **params):
    return {s["id"] for s in ok(api.get("servers", params=params))["servers"]}


# ---------------------------------------------------------------------------
# create

def test_create_validation_errors_leave_nothing(env):
    a = env.a
    before = ids(a)
    base = {"name": "bad-" + env.tag, "imageRef": env.image, "flavorRef": "1",
            "networks": [{"uuid": env.net["id"]}]}

    def bad(code, fname, text=None, top=None, **changes):
        body = dict(base)
        for k, v in changes.items():
            if v is None:
                body.pop(k, None)
            else:
                body[k] = v
        full = {"server": body}
        if top:
            full.update(top)
        return fault(a.post("servers", full), code, fname, text)

    bad(400, "badRequest", name=None)
    bad(400, "badRequest", name="")
    bad(400, "badRequest", name=" lead")
    bad(400, "badRequest", name="x" * 256)
    bad(400, "badRequest", name=5)
    bad(400, "badRequest", flavorRef=None)
    bad(400, "badRequest", "Flavor 999 could not be found.", flavorRef="999")
    bad(400, "badRequest", imageRef="not-a-uuid")
    bad(400, "badRequest", "Can not find requested image", imageRef=str(uuid.uuid4()))
    bad(400, "badRequest", imageRef="")
    bad(400, "badRequest", "Additional properties are not allowed", bogus=1)
    bad(400, "badRequest", top={"bogus": {}})
    bad(400, "badRequest", "Bad networks format: network uuid is not in proper format (abc)",
        networks=[{"uuid": "abc"}])
    nid = str(uuid.uuid4())
    bad(400, "badRequest", f"Network {nid} could not be found.", networks=[{"uuid": nid}])
    pid = str(uuid.uuid4())
    bad(400, "badRequest", f"Port id {pid} could not be found.", networks=[{"port": pid}])
    bad(400, "badRequest", networks=[{"uuid": env.net["id"], "bogus": 1}])
    bad(400, "badRequest", networks=[{"uuid": env.net["id"], "fixed_ip": "10.77.0.999"}])
    bad(400, "badRequest", networks={"uuid": env.net["id"]})
    bad(400, "badRequest", "User data needs to be valid base 64.", user_data="not base64!")
    bad(400, "badRequest", user_data="QUJD" * 20000)
    bad(400, "badRequest", metadata={"k": "v" * 256})
    bad(400, "badRequest", metadata={"": "v"})
    bad(400, "badRequest", metadata={"k": 1})
    bad(403, "forbidden", "Maximum number of metadata items exceeds 128",
        metadata={f"k{i}": "v" for i in range(129)})
    bad(400, "badRequest", accessIPv4="1.2.3")
    bad(400, "badRequest", accessIPv6="not:an:ip::x")
    bad(400, "badRequest", **{"OS-DCF:diskConfig": "BOTH"})
    bad(400, "badRequest", min_count=0)
    bad(400, "badRequest", min_count="x")
    bad(400, "badRequest", "min_count must be <= max_count", min_count=3, max_count=2)
    bad(400, "badRequest", config_drive="maybe")
    bad(400, "badRequest", "Invalid key_name provided.", key_name="no-such-key")
    bad(400, "badRequest", f"Security group nope-{env.tag} not found for project "
        f"{a.project_id}.", security_groups=[{"name": f"nope-{env.tag}"}])
    bad(400, "badRequest", security_groups=[{"name": "default", "x": 1}])
    bad(400, "badRequest", availability_zone="no-such-zone")
    bad(403, "forbidden", "Policy doesn't allow os_compute_api:servers:create:forced_host",
        availability_zone="nova:somehost")
    bad(400, "badRequest", block_device_mapping_v2=[{"boot_index": 0, "uuid": env.image,
                                                     "source_type": "image"}])
    # the body is not JSON at all
    r = requests.post(a.url("servers"), data="{not json", timeout=30,
                      headers={"X-Auth-Token": a.token, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert ids(a) == before
    assert ids(a, **{"changes-since": "2000-01-01T00:00:00Z"}) == before


def test_create_image_checks(env):
    g = env.admin_glance
    queued = ok(g.post("v2/images", {"name": "q-" + env.tag, "disk_format": "qcow2",
                                     "container_format": "bare", "visibility": "public"}),
                201)["id"]
    body = {"name": "img-checks", "imageRef": queued, "flavorRef": "1",
            "networks": [{"uuid": env.net["id"]}]}
    fault(env.a.post("servers", {"server": body}), 400, "badRequest",
          f"Image {queued} is not active.")
    big = ok(g.post("v2/images", {"name": "big-" + env.tag, "disk_format": "qcow2",
                                  "container_format": "bare", "visibility": "public",
                                  "min_ram": 100000, "min_disk": 500}), 201)["id"]
    r = g.request("PUT", f"v2/images/{big}/file", data=b"y" * 10,
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    body["imageRef"] = big
    fault(env.a.post("servers", {"server": body}), 400, "badRequest",
          "Flavor's memory is too small for requested image.")
    ok(g.patch(f"v2/images/{big}", [{"op": "replace", "path": "/min_ram", "value": 0}],
               headers={"Content-Type": "application/openstack-images-v2.1-json-patch"}))
    fault(env.a.post("servers", {"server": body}), 400, "badRequest",
          "Flavor's disk is smaller than the minimum size specified in image metadata")
    # a private image of another project is not found
    priv = ok(env.b.glance.post("v2/images", {"name": "p-" + env.tag, "disk_format": "raw",
                                              "container_format": "bare"}), 201)["id"]
    body["imageRef"] = priv
    fault(env.a.post("servers", {"server": body}), 400, "badRequest",
          "Can not find requested image")


def test_create_networks_resolution(env):
    c = env.project("c")
    # no network visible: no NIC, still accepted
    s = env.boot(c)
    row = env.db().execute("SELECT requested_networks, security_groups, security_group_ids "
                           "FROM cmp_instance WHERE id = ?", (s["id"],)).fetchone()
    assert row[0] == "[]" and row[1] == '["default"]'
    assert len(eval(row[2].replace("null", "None"))) == 1
    # one network of its own: used
    n1 = ok(c.neutron.post("v2.0/networks", {"network": {"name": "c1"}}), 201)["network"]
    fault(c.post("servers", {"server": {"name": "x", "imageRef": env.image, "flavorRef": "1",
                                        "networks": [{"uuid": n1["id"]}]}}),
          400, "badRequest", f"Network {n1['id']} requires a subnet")
    ok(c.neutron.post("v2.0/subnets", {"subnet": {"network_id": n1["id"], "ip_version": 4,
                                                  "cidr": "10.78.0.0/24"}}), 201)
    s = env.boot(c)
    row = env.db().execute("SELECT requested_networks FROM cmp_instance WHERE id = ?",
                           (s["id"],)).fetchone()
    assert n1["id"] in row[0]
    # two: ambiguous
    n2 = ok(c.neutron.post("v2.0/networks", {"network": {"name": "c2"}}), 201)["network"]
    fault(c.post("servers", {"server": {"name": "x", "imageRef": env.image,
                                        "flavorRef": "1"}}), 409, "conflictingRequest")
    # a port in use
    port = ok(c.neutron.post("v2.0/ports", {"port": {"network_id": n2["id"],
                                                     "device_id": "someone"}}), 201)["port"]
    fault(c.post("servers", {"server": {"name": "x", "imageRef": env.image, "flavorRef": "1",
                                        "networks": [{"port": port["id"]}]}}),
          409, "conflictingRequest", f"Port {port['id']} is still in use.")
    free = ok(c.neutron.post("v2.0/ports", {"port": {"network_id": n1["id"]}}),
              201)["port"]
    fault(c.post("servers", {"server": {"name": "x", "imageRef": env.image, "flavorRef": "1",
                                        "networks": [{"port": free["id"]}],
                                        "max_count": 2}}), 400, "badRequest")
    s = ok(c.post("servers", {"server": {"name": "withport", "imageRef": env.image,
                                         "flavorRef": "1",
                                         "networks": [{"port": free["id"]}]}}), 202)
    row = env.db().execute("SELECT requested_networks FROM cmp_instance WHERE id = ?",
                           (s["server"]["id"],)).fetchone()
    assert free["id"] in row[0] and n1["id"] in row[0]


def test_create_show_and_schemas(env):
    a = env.a
    r = a.post("servers", {"server": {
        "name": "full-" + env.tag, "imageRef": env.image, "flavorRef": "1",
        "networks": [{"uuid": env.net["id"]}], "metadata": {"role": "web", "a b": "c"},
        "accessIPv4": "192.0.2.7", "accessIPv6": "2001:db8::7", "user_data": "aGVsbG8=",
        "security_groups": [{"name": "default"}], "config_drive": True,
        "OS-DCF:diskConfig": "MANUAL"}})
    body = ok(r, 202)
    check_schema(schemas.create_server_with_admin_pass, body)
    srv = body["server"]
    assert srv["security_groups"] == [{"name": "default"}]
    assert srv["OS-DCF:diskConfig"] == "MANUAL"
    assert len(srv["adminPass"]) >= 8
    assert r.headers["Location"].endswith("/v2.1/servers/" + srv["id"])
    assert [l["rel"] for l in srv["links"]] == ["self", "bookmark"]

    got = ok(a.get(f"servers/{srv['id']}"))
    check_schema(schemas.get_server, got)
    s = got["server"]
    assert s["name"] == "full-" + env.tag
    assert s["status"] in ("BUILD", "ERROR")
    assert s["tenant_id"] == a.project_id and s["user_id"] == a.user_id
    assert s["metadata"] == {"role": "web", "a b": "c"}
    assert s["image"]["id"] == env.image
    assert s["image"]["links"][0]["href"].endswith("/images/" + env.image)
    assert s["flavor"]["id"] == "1"
    assert s["accessIPv4"] == "192.0.2.7" and s["accessIPv6"] == "2001:db8::7"
    assert s["config_drive"] == "True"
    assert s["key_name"] is None
    assert s["OS-EXT-STS:vm_state"] in ("building", "error")
    assert s["OS-SRV-USG:launched_at"] is None
    assert s["os-extended-volumes:volumes_attached"] == []
    assert "OS-EXT-SRV-ATTR:host" not in s          # admins only
    assert s["addresses"] == {}
    assert s["hostId"] == ""
    if s["status"] == "BUILD":
        assert s["progress"] == 0
    adm = ok(env.admin.get(f"servers/{srv['id']}"))["server"]
    check_schema(schemas.get_server, {"server": adm})
    assert adm["OS-EXT-SRV-ATTR:instance_name"] == "instance-" + srv["id"]
    assert "OS-EXT-SRV-ATTR:hypervisor_hostname" in adm


def test_views_with_host_ports_and_fault(env):
    """A server moved to ERROR with a host, a fault and a port cache row."""
    s = env.boot()
    sid = s["id"]
    env.settle(sid)
    db = env.db()
    db.execute("DELETE FROM cmp_instance_fault WHERE instance_id = ?", (sid,))
    db.execute("UPDATE cmp_instance SET vm_state = 'error', task_state = NULL, host = 'h1', "
               "node = 'h1', launched_at = 1795000000000000 WHERE id = ?", (sid,))
    db.execute("INSERT INTO cmp_instance_fault (instance_id, code, message, details, host, "
               "created_at) VALUES (?, 500, 'boom', 'Traceback...', 'h1', 1795000000000000)",
               (sid,))
    db.execute("INSERT INTO cmp_instance_port (instance_id, port_id, network_id, network_name, "
               "mac, ips, ord) VALUES (?, 'p1', ?, 'net1', 'fa:16:3e:00:00:01', "
               "'[{\"addr\": \"10.77.0.5\", \"version\": 4, \"type\": \"fixed\"}]', 0)",
               (sid, env.net["id"]))
    db.close()
    v = ok(env.a.get(f"servers/{sid}"))
    check_schema(schemas.get_server, v)
    v = v["server"]
    assert v["status"] == "ERROR"
    assert v["fault"]["message"] == "boom" and v["fault"]["code"] == 500
    assert "details" not in v["fault"]                  # 500: admins only
    assert "progress" not in v
    assert len(v["hostId"]) == 56
    launched = datetime.datetime.fromtimestamp(1795000000, datetime.timezone.utc)
    assert v["OS-SRV-USG:launched_at"] == launched.strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert v["addresses"] == {"net1": [{"version": 4, "addr": "10.77.0.5",
                                        "OS-EXT-IPS:type": "fixed",
                                        "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}]}
    assert v["security_groups"] == [{"name": "default"}]
    assert v["OS-EXT-AZ:availability_zone"] == "nova"
    adm = ok(env.admin.get(f"servers/{sid}"))["server"]
    assert adm["fault"]["details"] == "Traceback..."
    assert adm["OS-EXT-SRV-ATTR:host"] == "h1"
    # addresses APIs
    assert ok(env.a.get(f"servers/{sid}/ips")) == {
        "addresses": {"net1": [{"version": 4, "addr": "10.77.0.5"}]}}
    check_schema(schemas.list_addresses, ok(env.a.get(f"servers/{sid}/ips")))
    assert ok(env.a.get(f"servers/{sid}/ips/net1")) == {
        "net1": [{"version": 4, "addr": "10.77.0.5"}]}
    fault(env.a.get(f"servers/{sid}/ips/other"), 404, "itemNotFound")
    # ip filter
    assert sid in ids(env.a, ip="10\\.77\\.0\\.5")
    assert sid not in ids(env.a, ip="^10\\.99")
    # detail of the list uses the same view
    det = ok(env.a.get("servers/detail", params={"name": "^" + s["id"][:0]}))
    check_schema(schemas.list_servers_detail, det)
    mine = [x for x in det["servers"] if x["id"] == sid][0]
    assert mine["addresses"]["net1"][0]["addr"] == "10.77.0.5"
    assert mine["fault"]["message"] == "boom"


# ---------------------------------------------------------------------------
# list

def test_list_filters_sort_and_pages(env):
    a = env.a
    tag = "lst-" + uuid.uuid4().hex[:6]
    made = [env.boot(name=f"{tag}-{i}")["id"] for i in range(5)]
    lst = ok(a.get("servers", params={"name": tag}))
    check_schema(schemas.list_servers, lst)
    assert [s["id"] for s in lst["servers"]] == made[::-1]     # created_at desc
    assert set(lst["servers"][0]) == {"id", "name", "links"}
    assert ids(a, name=f"^{tag}-[13]$") == {made[1], made[3]}
    fault(a.get("servers", params={"name": "("}), 400, "badRequest")
    # status
    statuses = {s["status"] for s in ok(a.get("servers/detail",
                                              params={"name": tag}))["servers"]}
    for st in statuses:
        assert set(made) <= ids(a, name=tag, status=st) | ids(a, name=tag, status="BUILD") | \
            ids(a, name=tag, status="ERROR")
    assert ids(a, name=tag, status="SHUTOFF") == set()
    assert ids(a, name=tag, status="NOT_A_STATUS") == set()
    fault(a.get("servers", params={"status": "DELETED"}), 403, "forbidden")
    # image / flavor
    assert set(made) <= ids(a, image=env.image)
    assert ids(a, name=tag, flavor="2") == set()
    assert set(made) == ids(a, name=tag, flavor="1")
    # sort
    asc = ok(a.get("servers", params={"name": tag, "sort_key": "display_name",
                                      "sort_dir": "asc"}))["servers"]
    assert [s["name"] for s in asc] == [f"{tag}-{i}" for i in range(5)]
    fault(a.get("servers", params={"sort_key": "bogus"}), 400, "badRequest")
    fault(a.get("servers", params={"sort_key": "host"}), 403, "forbidden")
    fault(a.get("servers", params={"sort_key": "display_name", "sort_dir": "up"}),
          400, "badRequest")
    # pages
    p1 = ok(a.get("servers", params={"name": tag, "limit": 2}))
    assert [s["id"] for s in p1["servers"]] == made[::-1][:2]
    nxt = p1["servers_links"][0]
    assert nxt["rel"] == "next" and "marker=" + made[3] in nxt["href"]
    assert "/v2.1/servers?" in nxt["href"]
    p2 = ok(a.get(nxt["href"]))
    assert [s["id"] for s in p2["servers"]] == made[::-1][2:4]
    p3 = ok(a.get(p2["servers_links"][0]["href"]))
    assert [s["id"] for s in p3["servers"]] == made[::-1][4:]
    assert "servers_links" not in p3
    d1 = ok(a.get("servers/detail", params={"name": tag, "limit": 1}))
    assert "/servers/detail?" in d1["servers_links"][0]["href"]
    fault(a.get("servers", params={"limit": "-1"}), 400, "badRequest")
    fault(a.get("servers", params={"limit": "abc"}), 400, "badRequest")
    missing = str(uuid.uuid4())
    fault(a.get("servers", params={"marker": missing}), 400, "badRequest",
          f"marker [{missing}] not found")
    fault(a.get("servers", params={"changes-since": "yesterday"}), 400, "badRequest")
    # all_tenants
    fault(a.get("servers", params={"all_tenants": "1"}), 403, "forbidden",
          "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.")
    assert not set(made) & ids(env.admin, name=tag)
    assert set(made) == ids(env.admin, name=tag, all_tenants="1")
    assert set(made) == ids(env.admin, name=tag, all_tenants="", tenant_id=a.project_id)
    assert ids(env.admin, name=tag, all_tenants="1", tenant_id=env.b.project_id) == set()
    fault(env.admin.get("servers", params={"all_tenants": "maybe"}), 400, "badRequest")
    # other filters non-admins may not use are ignored
    assert set(made) == ids(a, name=tag, host="nowhere")
    assert ids(env.admin, name=tag, all_tenants="1", host="nowhere") == set()


def test_list_is_scoped_to_project(env):
    s = env.boot()
    assert s["id"] in ids(env.a)
    assert s["id"] not in ids(env.b)
    assert s["id"] not in {x["id"] for x in ok(env.b.get("servers/detail"))["servers"]}


# ---------------------------------------------------------------------------
# show / update / delete

def test_not_found_and_other_projects(env):
    s = env.boot()
    sid = s["id"]
    for bad in ("abc", "1", "x" * 300, str(uuid.uuid4())):
        fault(env.a.get(f"servers/{bad}"), 404, "itemNotFound")
    fault(env.a.get(f"servers/{uuid.uuid4()}"), 404, "itemNotFound", "could not be found.")
    b = env.b
    fault(b.get(f"servers/{sid}"), 404, "itemNotFound", f"Instance {sid} could not be found.")
    fault(b.put(f"servers/{sid}", {"server": {"name": "x"}}), 404, "itemNotFound")
    fault(b.delete(f"servers/{sid}"), 404, "itemNotFound")
    fault(b.get(f"servers/{sid}/metadata"), 404, "itemNotFound")
    fault(b.get(f"servers/{sid}/ips"), 404, "itemNotFound")
    # the admin sees it
    assert ok(env.admin.get(f"servers/{sid}"))["server"]["id"] == sid


def test_update(env):
    s = env.boot(name="before-" + env.tag)
    sid = s["id"]
    hostname = env.db().execute("SELECT hostname FROM cmp_instance WHERE id = ?",
                                (sid,)).fetchone()[0]
    assert hostname == "before-" + env.tag
    r = ok(env.a.put(f"servers/{sid}", {"server": {"name": "after", "accessIPv4": "192.0.2.9",
                                                    "accessIPv6": "::1"}}))
    check_schema(schemas.update_server, r)
    assert r["server"]["name"] == "after"
    assert r["server"]["accessIPv4"] == "192.0.2.9"
    got = ok(env.a.get(f"servers/{sid}"))["server"]
    assert got["name"] == "after" and got["accessIPv6"] == "::1"
    assert env.db().execute("SELECT hostname FROM cmp_instance WHERE id = ?",
                            (sid,)).fetchone()[0] == hostname
    for body in ({"server": {"name": ""}}, {"server": {"accessIPv4": "x"}},
                 {"server": {"bogus": 1}}, {"srv": {}}, {"server": {"hostname": "h"}},
                 {"server": {"accessIPv6": "1.2.3.4"}}):
        fault(env.a.put(f"servers/{sid}", body), 400, "badRequest")


def test_delete(env):
    s = env.boot()
    sid = s["id"]
    r = env.a.delete(f"servers/{sid}")
    assert r.status_code == 204, r.text
    fault(env.a.get(f"servers/{sid}"), 404, "itemNotFound")
    assert sid not in ids(env.a)
    # still listed with changes-since, as DELETED
    since = ok(env.a.get("servers/detail", params={"changes-since": "2000-01-01T00:00:00Z"}))
    gone = [x for x in since["servers"] if x["id"] == sid]
    assert gone and gone[0]["status"] == "DELETED"
    assert sid in ids(env.admin, deleted="true", all_tenants="1")
    assert sid not in ids(env.admin, all_tenants="1")
    fault(env.a.delete(f"servers/{sid}"), 404, "itemNotFound")
    # ERROR without a host
    s = env.boot()
    env.settle(s["id"])
    env.set_row(s["id"], vm_state="error", task_state=None)
    assert env.a.delete(f"servers/{s['id']}").status_code == 204
    # a host whose agent never reported: deleted locally
    s = env.boot()
    env.settle(s["id"])
    env.set_row(s["id"], vm_state="active", task_state=None, host="ghost-host")
    assert env.a.delete(f"servers/{s['id']}").status_code == 204
    fault(env.a.get(f"servers/{s['id']}"), 404, "itemNotFound")
    # locked
    s = env.boot()
    env.set_row(s["id"], locked=1, locked_by="owner")
    fault(env.a.delete(f"servers/{s['id']}"), 409, "conflictingRequest",
          f"Instance {s['id']} is locked")
    assert env.admin.delete(f"servers/{s['id']}").status_code == 204
    # actions were recorded
    acts = env.db().execute("SELECT action FROM cmp_instance_action WHERE instance_id = ? "
                            "ORDER BY id", (sid,)).fetchall()
    assert [x[0] for x in acts] == ["create", "delete"]


def test_delete_removes_ports(env):
    c = env.project("d")
    n = ok(c.neutron.post("v2.0/networks", {"network": {"name": "d1"}}), 201)["network"]
    ok(c.neutron.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                                  "cidr": "10.79.0.0/24"}}), 201)
    pre = ok(c.neutron.post("v2.0/ports", {"port": {"network_id": n["id"]}}), 201)["port"]
    s = ok(c.post("servers", {"server": {"name": "pd", "imageRef": env.image, "flavorRef": "1",
                                         "networks": [{"port": pre["id"]}]}}), 202)["server"]
    # what an agent would have done: bind the given port, create another one
    adm = env.kumo.neutron()
    ok(adm.put(f"v2.0/ports/{pre['id']}", {"port": {"device_id": s["id"],
                                                    "device_owner": "compute:nova"}}))
    made = ok(adm.post("v2.0/ports", {"port": {"network_id": n["id"], "device_id": s["id"],
                                               "device_owner": "compute:nova",
                                               "project_id": c.project_id}}), 201)["port"]
    assert c.delete(f"servers/{s['id']}").status_code == 204
    assert adm.get(f"v2.0/ports/{made['id']}").status_code == 404
    back = ok(adm.get(f"v2.0/ports/{pre['id']}"))["port"]
    assert back["device_id"] == "" and back["device_owner"] == ""


# ---------------------------------------------------------------------------
# metadata

def test_metadata_api(env):
    s = env.boot(metadata={"a": "1"})
    sid = s["id"]
    base = f"servers/{sid}/metadata"
    assert ok(env.a.get(base)) == {"metadata": {"a": "1"}}
    assert ok(env.a.get(f"{base}/a")) == {"meta": {"a": "1"}}
    fault(env.a.get(f"{base}/zz"), 404, "itemNotFound", "Metadata item was not found")
    # writes need a launched server
    msg = fault(env.a.post(base, {"metadata": {"b": "2"}}), 409, "conflictingRequest")
    assert msg in (f"Cannot 'update metadata' instance {sid} while it is in vm_state building",
                   f"Cannot 'update metadata' instance {sid} while it is in vm_state error")
    env.settle(sid)
    env.set_row(sid, vm_state="active", task_state=None, launched_at=1795000000000000)
    assert ok(env.a.post(base, {"metadata": {"b": "2"}})) == {"metadata": {"a": "1", "b": "2"}}
    assert ok(env.a.put(base, {"metadata": {"c": "3"}})) == {"metadata": {"c": "3"}}
    assert ok(env.a.get(base)) == {"metadata": {"c": "3"}}
    assert ok(env.a.put(f"{base}/d", {"meta": {"d": "4"}})) == {"meta": {"d": "4"}}
    assert ok(env.a.put(f"{base}/c", {"meta": {"c": "33"}})) == {"meta": {"c": "33"}}
    assert ok(env.a.get(base)) == {"metadata": {"c": "33", "d": "4"}}
    fault(env.a.put(f"{base}/d", {"meta": {"e": "5"}}), 400, "badRequest",
          "Request body and URI mismatch")
    fault(env.a.put(f"{base}/d", {"meta": {"d": "4", "e": "5"}}), 400, "badRequest")
    fault(env.a.put(f"{base}/d", {"meta": {}}), 400, "badRequest")
    fault(env.a.post(base, {"metadata": {"k": "v" * 256}}), 400, "badRequest")
    fault(env.a.post(base, {"meta": {"k": "v"}}), 400, "badRequest")
    fault(env.a.post(base, {"metadata": {f"k{i}": "v" for i in range(128)}}), 403,
          "forbidden", "Maximum number of metadata items exceeds 128")
    assert env.a.delete(f"{base}/d").status_code == 204
    fault(env.a.delete(f"{base}/d"), 404, "itemNotFound")
    assert ok(env.a.get(base)) == {"metadata": {"c": "33"}}
    # the view shows it
    assert ok(env.a.get(f"servers/{sid}"))["server"]["metadata"] == {"c": "33"}
    env.set_row(sid, locked=1, locked_by="admin")
    fault(env.a.post(base, {"metadata": {"x": "y"}}), 409, "conflictingRequest",
          "is locked")


# ---------------------------------------------------------------------------
# quota, multi-create, microversions

def test_instances_quota(env):
    q = env.project("q")
    db = env.db()
    db.execute("INSERT INTO cmp_quota (project_id, resource, hard_limit) VALUES (?, ?, ?)",
               (q.project_id, "instances", 2))
    db.close()
    env.boot(q)
    fault(q.post("servers", {"server": {"name": "m", "imageRef": env.image, "flavorRef": "1",
                                        "min_count": 2}}), 403, "forbidden",
          "Quota exceeded for instances: Requested 2, but already used 1 of 2 instances")
    env.boot(q)
    before = ids(q)
    fault(q.post("servers", {"server": {"name": "n", "imageRef": env.image,
                                        "flavorRef": "1"}}), 403, "forbidden",
          "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances")
    assert ids(q) == before
    # cores: m1.small has 1 vcpu, cores quota 2 with 2 used
    db = env.db()
    db.execute("INSERT INTO cmp_quota (project_id, resource, hard_limit) VALUES (?, ?, ?)",
               (q.project_id, "cores", 2))
    db.execute("UPDATE cmp_quota SET hard_limit = 10 WHERE project_id = ? AND "
               "resource = 'instances'", (q.project_id,))
    db.close()
    fault(q.post("servers", {"server": {"name": "n", "imageRef": env.image,
                                        "flavorRef": "1"}}), 403, "forbidden",
          "Quota exceeded for cores: Requested 1, but already used 2 of 2 cores")


def test_multi_create(env):
    c = env.project("m")
    r = ok(c.post("servers", {"server": {"name": "multi", "imageRef": env.image,
                                         "flavorRef": "1", "min_count": 2,
                                         "max_count": "3"}}), 202)
    assert "adminPass" in r["server"]
    rows = env.db().execute("SELECT name, hostname, reservation_id, launch_index FROM "
                            "cmp_instance WHERE project_id = ? ORDER BY launch_index",
                            (c.project_id,)).fetchall()
    assert [x[0] for x in rows] == ["multi-1", "multi-2", "multi-3"]
    assert [x[1] for x in rows] == ["multi-1", "multi-2", "multi-3"]
    assert len({x[2] for x in rows}) == 1 and rows[0][2].startswith("r-")
    r = ok(c.post("servers", {"server": {"name": "My Server.Name_x", "imageRef": env.image,
                                         "flavorRef": "1", "return_reservation_id": True}}),
           202)
    assert list(r) == ["reservation_id"] and r["reservation_id"].startswith("r-")
    assert len(ids(c, reservation_id=r["reservation_id"])) == 1
    hn = env.db().execute("SELECT hostname FROM cmp_instance WHERE reservation_id = ?",
                          (r["reservation_id"],)).fetchone()[0]
    assert hn == "my-server-name-x"


def test_microversions(env, kumo):
    r = NovaApi(kumo.compute_url, env.a.token, "2.2").get("servers")
    assert r.status_code == 200
    assert r.headers["OpenStack-API-Version"] == "compute 2.2"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.2"
    r = env.a.get("servers")
    assert r.headers["OpenStack-API-Version"] == "compute 2.1"
    r = NovaApi(kumo.compute_url, env.a.token, "2.99").get("servers")
    assert r.status_code == 406
    assert list(r.json().values())[0]["code"] == 406
    r = NovaApi(kumo.compute_url, env.a.token, "foo").get("servers")
    assert r.status_code == 400
    s = env.boot()
    v = ok(NovaApi(kumo.compute_url, env.a.token, "2.2").get(f"servers/{s['id']}"))
    check_schema(schemas.get_server, v)


def test_unauthenticated(kumo):
    r = requests.get(kumo.compute_url + "/servers", timeout=30)
    assert r.status_code == 401
    r = NovaApi(kumo.compute_url, "not-a-token").get("servers")
    assert r.status_code == 401


OPENSTACK = "/usr/bin/openstack"
NOVA = "/usr/bin/nova"


def run_cli(kumo, env, *args, tool=OPENSTACK, check=True):
    import os
    import subprocess
    import tempfile
    e = {"PATH": "/usr/bin:/bin", "HOME": tempfile.mkdtemp(prefix="kumo-cli-"),
         "LANG": "C.UTF-8", "OS_AUTH_URL": kumo.url + "/v3", "OS_IDENTITY_API_VERSION": "3",
         "OS_USERNAME": f"srv-a-{env.tag}", "OS_PASSWORD": env.pw,
         "OS_PROJECT_ID": env.a.project_id, "OS_USER_DOMAIN_NAME": "Default",
         "OS_REGION_NAME": kumo.region, "OS_INTERFACE": "public"}
    if not os.path.exists(tool):
        pytest.skip(f"{tool} not installed")
    p = subprocess.run([tool, *args], env=e, capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"{args}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def test_cli_server_lifecycle(kumo, env):
    import json
    out = run_cli(kumo, env, "server", "create", "--image", env.image, "--flavor", "1",
                  "--network", env.net["id"], "--property", "k=v", "-f", "json",
                  "cli-" + env.tag).stdout
    srv = json.loads(out)
    assert srv["name"] == "cli-" + env.tag
    sid = srv["id"]
    env.settle(sid)
    lst = json.loads(run_cli(kumo, env, "server", "list", "-f", "json").stdout)
    assert sid in {x["ID"] for x in lst}
    lst = json.loads(run_cli(kumo, env, "server", "list", "--long", "-f", "json").stdout)
    assert sid in {x["ID"] for x in lst}
    show = json.loads(run_cli(kumo, env, "server", "show", sid, "-f", "json").stdout)
    assert show["id"] == sid and show["status"] in ("BUILD", "ERROR")
    show = json.loads(run_cli(kumo, env, "server", "show", "cli-" + env.tag, "-f",
                              "json").stdout)
    assert show["id"] == sid
    run_cli(kumo, env, "server", "set", "--name", "cli2-" + env.tag, sid)
    nv = run_cli(kumo, env, "list", tool=NOVA).stdout
    assert "cli2-" + env.tag in nv
    run_cli(kumo, env, "show", sid, tool=NOVA)
    run_cli(kumo, env, "server", "delete", sid)
    assert env.a.get(f"servers/{sid}").status_code == 404


def test_list_many_servers_is_fast(env):
    """1000 servers with metadata and a port each: the detail list is a few
    queries, not a few per server."""
    p = env.project("many")
    s = env.boot(p, metadata={"k": "v"})
    env.settle(s["id"])
    db = env.db()
    cols = [r[1] for r in db.execute("PRAGMA table_info(cmp_instance)")]
    row = db.execute("SELECT * FROM cmp_instance WHERE id = ?", (s["id"],)).fetchone()
    db.execute("BEGIN")
    for i in range(1000):
        vals = dict(zip(cols, row))
        vals["id"] = str(uuid.uuid4())
        vals["name"] = f"many-{i:04d}"
        vals["created_at"] = vals["created_at"] + i + 1
        vals["vm_state"], vals["task_state"] = "active", None
        db.execute(f"INSERT INTO cmp_instance ({', '.join(cols)}) VALUES "
                   f"({', '.join('?' * len(cols))})", [vals[c] for c in cols])
        db.execute("INSERT INTO cmp_instance_metadata VALUES (?, 'k', 'v')", (vals["id"],))
        db.execute("INSERT INTO cmp_instance_port (instance_id, port_id, network_id, "
                   "network_name, mac, ips) VALUES (?, ?, 'n', 'net', 'fa:16:3e:00:00:02', "
                   "'[{\"addr\": \"10.0.0.1\", \"version\": 4}]')",
                   (vals["id"], str(uuid.uuid4())))
    db.execute("COMMIT")
    db.close()
    t = time.time()
    body = ok(p.get("servers/detail"))
    took = time.time() - t
    assert len(body["servers"]) == 1000 and "servers_links" in body
    assert body["servers"][0]["name"] == "many-0999"
    assert body["servers"][0]["metadata"] == {"k": "v"}
    assert body["servers"][0]["addresses"]["net"][0]["addr"] == "10.0.0.1"
    assert took < 5, took
    rest = ok(p.get(body["servers_links"][0]["href"]))["servers"]
    assert [x["id"] for x in rest] == [s["id"]]
    t = time.time()
    assert len(ok(p.get("servers", params={"name": "many-09"}))["servers"]) == 100
    assert time.time() - t < 2
