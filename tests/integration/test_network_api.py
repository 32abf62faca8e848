"""The Network service's L2 API (Neutron v2.0) against a real `kumo all`
(conftest.py, agents off): networks with the provider / external-net / mtu
attributes, subnets (IPv4, IPv6, pools, gateway, DNS, routes), subnet pools,
quotas, extensions, tags, and the list machinery (filters, fields, sorting,
pagination).  IP allocation is exercised through ports when the ports API
answers.  Bad input gets Neutron's status codes and error types, and nothing
is left half-created.

Ports, security groups, routers and floating IPs have their own test files.
"""

import uuid

import pytest
import requests


# ---------------------------------------------------------------- helpers

def ok(r, code=200):
    assert r.status_code == code, f"{r.status_code} {r.text}"
    return r.json() if r.content else None


def err(r, code, etype=None, text=None):
    """Assert a Neutron error body and return its message."""
    assert r.status_code == code, f"{r.status_code} {r.text}"
    body = r.json()
    assert set(body) == {"NeutronError"}, body
    e = body["NeutronError"]
    assert set(e) == {"type", "message", "detail"}, e
    if etype is not None:
        assert e["type"] == etype, e
    if text is not None:
        assert text in e["message"], e["message"]
    return e["message"]


def name(prefix="n"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Env:
    """Two projects with a member user each, plus the admin."""


@pytest.fixture(scope="module")
def env(kumo, admin):
    e = Env()
    tag = uuid.uuid4().hex[:8]
    roles = {r["name"]: r["id"] for r in ok(admin.get("roles"))["roles"]}
    if "member" not in roles:
        roles["member"] = ok(admin.post("roles", {"role": {"name": "member"}}), 201)["role"]["id"]
    e.pw = "pw-" + tag
    for p in ("a", "b"):
        proj = ok(admin.post("projects", {"project": {"name": f"net-{p}-{tag}",
                                                      "domain_id": "default"}}), 201)["project"]
        user = ok(admin.post("users", {"user": {"name": f"net-{p}-{tag}", "password": e.pw,
                                                "domain_id": "default"}}), 201)["user"]
        ok(admin.put(f"projects/{proj['id']}/users/{user['id']}/roles/{roles['member']}"), 204)
        setattr(e, f"project_{p}", proj["id"])
        setattr(e, p, kumo.neutron(kumo.token(user["name"], e.pw, project=proj["id"])))
    e.admin = kumo.neutron()
    e.admin_project = ok(admin.get("auth/projects"))["projects"][0]["id"]
    return e


def mk_net(api, **kw):
    kw.setdefault("name", name())
    return ok(api.post("v2.0/networks", {"network": kw}), 201)["network"]


def mk_subnet(api, net, cidr, **kw):
    body = {"network_id": net["id"], "cidr": cidr, "ip_version": 6 if ":" in cidr else 4}
    body.update(kw)
    return ok(api.post("v2.0/subnets", {"subnet": body}), 201)["subnet"]


def ports_api(env):
    """Whether the ports API is there (another helper writes it)."""
    r = env.admin.get("v2.0/ports", params={"limit": 1})
    return r.status_code == 200


def mk_port(api, net, **kw):
    kw["network_id"] = net["id"]
    return api.post("v2.0/ports", {"port": kw})


# ---------------------------------------------------------------- basics

def test_versions(kumo):
    r = requests.get(kumo.network_url + "/", timeout=10)
    v = ok(r)["versions"]
    assert [x["id"] for x in v] == ["v2.0"] and v[0]["status"] == "CURRENT"


def test_needs_token(kumo):
    r = requests.get(kumo.network_url + "/v2.0/networks", timeout=10)
    assert r.status_code == 401


def test_extensions(env):
    exts = ok(env.a.get("v2.0/extensions"))["extensions"]
    aliases = {x["alias"] for x in exts}
    for a in ("provider", "external-net", "net-mtu", "subnet_allocation", "quotas",
              "standard-attr-tag", "pagination", "sorting", "project-id"):
        assert a in aliases
    for x in exts:
        assert set(x) == {"name", "alias", "description", "updated", "links"}
        assert ok(env.a.get(f"v2.0/extensions/{x['alias']}"))["extension"] == x
    err(env.a.get("v2.0/extensions/no-such-ext"), 404)


# ---------------------------------------------------------------- networks

def test_network_defaults(env):
    n = mk_net(env.a, name="plain")
    assert n["status"] == "ACTIVE" and n["admin_state_up"] is True
    assert n["shared"] is False and n["router:external"] is False
    assert n["subnets"] == [] and n["tags"] == [] and n["description"] == ""
    assert n["project_id"] == n["tenant_id"] == env.project_a
    assert n["port_security_enabled"] is True and n["revision_number"] == 0
    assert n["mtu"] == 1450     # vxlan tenant network: 1500 - 50
    assert n["created_at"].endswith("Z") and len(n["created_at"]) == 20
    # provider attributes are admin-only to read
    assert "provider:network_type" not in n
    full = ok(env.admin.get(f"v2.0/networks/{n['id']}"))["network"]
    assert full["provider:network_type"] == "vxlan"
    assert full["provider:physical_network"] is None
    assert 1 <= full["provider:segmentation_id"] <= 1000
    assert ok(env.a.get(f"v2.0/networks/{n['id']}"))["network"]["name"] == "plain"


def test_network_show_fields(env):
    n = mk_net(env.a)
    got = ok(env.a.get(f"v2.0/networks/{n['id']}", params=[("fields", "id"),
                                                            ("fields", "name")]))["network"]
    assert got == {"id": n["id"], "name": n["name"]}


def test_network_provider_flat_vlan_vxlan_local(env):
    adm = env.admin
    flat = mk_net(adm, **{"provider:network_type": "flat",
                          "provider:physical_network": "physnet2"})
    assert flat["provider:segmentation_id"] is None and flat["mtu"] == 1500
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "flat",
                                               "provider:physical_network": "physnet2"}}),
        409, "FlatNetworkInUse", "physnet2")
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "flat"}}),
        400, "InvalidInput", "physical_network required for flat provider network")
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "flat",
                                               "provider:physical_network": "physnet9",
                                               "provider:segmentation_id": 5}}),
        400, "InvalidInput", "prohibited for flat provider network")

    v = mk_net(adm, **{"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                       "provider:segmentation_id": 150})
    assert v["provider:segmentation_id"] == 150
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "vlan",
                                               "provider:physical_network": "physnet1",
                                               "provider:segmentation_id": 150}}),
        409, "VlanIdInUse")
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "vlan",
                                               "provider:physical_network": "physnet1",
                                               "provider:segmentation_id": 4095}}),
        400, "InvalidInput", "segmentation_id out of range (1 through 4094)")
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "vlan",
                                               "provider:physical_network": "nope"}}),
        400, "InvalidInput", "physical_network 'nope' unknown for VLAN provider network")
    auto = mk_net(adm, **{"provider:network_type": "vlan",
                          "provider:physical_network": "physnet1"})
    assert 100 <= auto["provider:segmentation_id"] <= 199
    assert auto["provider:segmentation_id"] != 150

    x = mk_net(adm, **{"provider:network_type": "vxlan", "provider:segmentation_id": 4242})
    assert x["provider:segmentation_id"] == 4242 and x["mtu"] == 1450
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "vxlan",
                                               "provider:segmentation_id": 4242}}),
        409, "TunnelIdInUse")
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "vxlan",
                                               "provider:physical_network": "physnet1"}}),
        400, "InvalidInput", "provider:physical_network specified for vxlan network")

    loc = mk_net(adm, **{"provider:network_type": "local"})
    assert loc["provider:physical_network"] is None
    assert loc["provider:segmentation_id"] is None
    err(adm.post("v2.0/networks", {"network": {"provider:network_type": "gre"}}),
        400, "InvalidInput", "network_type value 'gre' not supported")
    err(adm.post("v2.0/networks", {"network": {"provider:segmentation_id": 7}}),
        400, "InvalidInput", "network_type required")
    # provider attributes cannot change
    err(adm.put(f"v2.0/networks/{v['id']}",
                {"network": {"provider:segmentation_id": 151}}), 400, "InvalidInput")
    for n in (flat, v, auto, x, loc):
        ok(adm.delete(f"v2.0/networks/{n['id']}"), 204)


def test_network_policy(env):
    for attrs in ({"shared": True}, {"router:external": True},
                  {"provider:network_type": "local"}):
        body = {"network": dict(attrs, name=name())}
        err(env.a.post("v2.0/networks", body), 403, "PolicyNotAuthorized")
    # false is the default: not "explicitly set"
    n = mk_net(env.a, shared=False, **{"router:external": False})
    err(env.a.put(f"v2.0/networks/{n['id']}", {"network": {"shared": True}}), 403)
    # another project cannot see, change or delete it
    err(env.b.get(f"v2.0/networks/{n['id']}"), 404, "NetworkNotFound")
    err(env.b.put(f"v2.0/networks/{n['id']}", {"network": {"name": "x"}}), 404)
    err(env.b.delete(f"v2.0/networks/{n['id']}"), 404)
    # ...nor create it for another project
    err(env.a.post("v2.0/networks", {"network": {"tenant_id": env.project_b}}), 403)
    ok(env.a.get(f"v2.0/networks/{n['id']}"))


def test_network_shared_and_external_visibility(env):
    sh = mk_net(env.admin, shared=True, tenant_id=env.project_a)
    ext = mk_net(env.admin, **{"router:external": True})
    priv = mk_net(env.a)
    ids_b = {n["id"] for n in ok(env.b.get("v2.0/networks"))["networks"]}
    assert sh["id"] in ids_b and ext["id"] in ids_b and priv["id"] not in ids_b
    got = ok(env.b.get(f"v2.0/networks/{sh['id']}"))["network"]
    assert got["shared"] is True and "provider:network_type" not in got
    # b sees a shared network but cannot change it
    err(env.b.put(f"v2.0/networks/{sh['id']}", {"network": {"name": "x"}}), 403)
    ids_admin = {n["id"] for n in ok(env.admin.get("v2.0/networks"))["networks"]}
    assert {sh["id"], ext["id"], priv["id"]} <= ids_admin
    ext_only = ok(env.b.get("v2.0/networks", params={"router:external": "True"}))["networks"]
    assert ext["id"] in {n["id"] for n in ext_only}
    assert all(n["router:external"] for n in ext_only)
    ok(env.admin.delete(f"v2.0/networks/{ext['id']}"), 204)
    ok(env.admin.delete(f"v2.0/networks/{sh['id']}"), 204)


def test_network_update(env):
    n = mk_net(env.a)
    u = ok(env.a.put(f"v2.0/networks/{n['id']}",
                     {"network": {"name": "renamed", "description": "d", "mtu": 1400,
                                  "admin_state_up": "false"}}))["network"]
    assert u["name"] == "renamed" and u["description"] == "d" and u["mtu"] == 1400
    assert u["admin_state_up"] is False and u["revision_number"] == 1
    err(env.a.put(f"v2.0/networks/{n['id']}", {"network": {"mtu": 9000}}), 400,
        "InvalidInput", "Requested MTU is too big, maximum is 1450")
    err(env.a.put(f"v2.0/networks/{n['id']}", {"network": {"mtu": 10}}), 400,
        "HTTPBadRequest", "Invalid input for mtu. Reason: '10' is too small")
    err(env.a.put(f"v2.0/networks/{n['id']}", {"network": {"status": "DOWN"}}), 400,
        text="Cannot update read-only attribute status")
    err(env.a.put(f"v2.0/networks/{n['id']}", {"network": {"tenant_id": "x"}}), 400)
    err(env.a.put(f"v2.0/networks/{n['id']}", {"network": {"bogus": 1}}), 400,
        text="Unrecognized attribute(s) 'bogus'")
    err(env.a.put(f"v2.0/networks/{n['id']}", {"network": {"admin_state_up": "maybe"}}), 400,
        "InvalidInput", "'maybe' cannot be converted to boolean")
    err(env.a.put(f"v2.0/networks/{uuid.uuid4()}", {"network": {"name": "x"}}), 404,
        "NetworkNotFound")


@pytest.mark.parametrize("body,text", [
    ({}, "Unable to find 'network' in request body"),
    ({"network": "x"}, "Object 'network' contains invalid data"),
    ({"network": {"id": str(uuid.uuid4())}}, "Attribute 'id' not allowed in POST"),
    ({"network": {"name": 5}}, "Invalid input for name. Reason: '5' is not a valid string"),
    ({"network": {"name": "x" * 256}}, "exceeds maximum length of 255"),
    ({"network": {"admin_state_up": []}}, "cannot be converted to boolean"),
    ({"network": {"mtu": "big"}}, "'big' is not an integer"),
    ({"network": {"availability_zone_hints": "nova"}}, "is not a list"),
    ({"networks": []}, "Resources required"),
    ({"network": {"project_id": "a", "tenant_id": "b"}}, "'project_id' and 'tenant_id' do not match"),
])
def test_network_create_bad_input(env, body, text):
    before = len(ok(env.a.get("v2.0/networks"))["networks"])
    err(env.a.post("v2.0/networks", body), 400, text=text)
    assert len(ok(env.a.get("v2.0/networks"))["networks"]) == before


def test_network_create_malformed(env):
    for data in ("{", "[]", "null", ""):
        r = env.a.request("POST", "v2.0/networks", data=data,
                          headers={"Content-Type": "application/json"})
        err(r, 400)


def test_network_bulk(env):
    names = [name(), name()]
    got = ok(env.a.post("v2.0/networks", {"networks": [{"name": names[0]},
                                                        {"network": {"name": names[1]}}]}),
             201)["networks"]
    assert [n["name"] for n in got] == names
    # all or nothing
    bad = [name(), name()]
    err(env.a.post("v2.0/networks", {"networks": [{"name": bad[0]},
                                                  {"name": bad[1], "shared": True}]}), 403)
    listed = {n["name"] for n in ok(env.a.get("v2.0/networks"))["networks"]}
    assert not listed & set(bad)


def test_network_delete(env):
    n = mk_net(env.a)
    s = mk_subnet(env.a, n, "10.77.0.0/24")
    ok(env.a.delete(f"v2.0/networks/{n['id']}"), 204)
    err(env.a.get(f"v2.0/networks/{n['id']}"), 404)
    err(env.a.get(f"v2.0/subnets/{s['id']}"), 404)
    err(env.a.delete(f"v2.0/networks/{n['id']}"), 404)


def test_network_delete_in_use(env):
    if not ports_api(env):
        pytest.skip("ports API not available")
    n = mk_net(env.a)
    mk_subnet(env.a, n, "10.78.0.0/24")
    dhcp = ok(mk_port(env.admin, n, device_owner="network:dhcp", tenant_id=env.project_a), 201)
    p = ok(mk_port(env.a, n), 201)["port"]
    err(env.a.delete(f"v2.0/networks/{n['id']}"), 409, "NetworkInUse")
    ok(env.a.delete(f"v2.0/ports/{p['id']}"), 204)
    ok(env.a.delete(f"v2.0/networks/{n['id']}"), 204)
    # the DHCP port went with the network
    err(env.admin.get(f"v2.0/ports/{dhcp['port']['id']}"), 404)


def test_network_quota(env, kumo):
    adm = env.admin
    ok(adm.put(f"v2.0/quotas/{env.project_b}", {"quota": {"network": 1}}))
    try:
        mine = [n for n in ok(env.b.get("v2.0/networks"))["networks"]
                if n["project_id"] == env.project_b]
        for n in mine:
            ok(env.b.delete(f"v2.0/networks/{n['id']}"), 204)
        n = mk_net(env.b)
        err(env.b.post("v2.0/networks", {"network": {"name": name()}}), 409, "OverQuota",
            "Quota exceeded for resources: ['network'].")
        ok(env.b.delete(f"v2.0/networks/{n['id']}"), 204)
    finally:
        ok(adm.delete(f"v2.0/quotas/{env.project_b}"), 204)


# ---------------------------------------------------------------- lists

@pytest.fixture(scope="module")
def listing(env):
    tag = uuid.uuid4().hex[:6]
    nets = [mk_net(env.a, name=f"ls-{tag}-{i}", description=f"{5 - i}") for i in range(5)]
    return tag, nets


def test_list_filters(env, listing):
    tag, nets = listing
    got = ok(env.a.get("v2.0/networks", params={"name": f"ls-{tag}-1"}))["networks"]
    assert [n["id"] for n in got] == [nets[1]["id"]]
    got = ok(env.a.get("v2.0/networks", params=[("name", f"ls-{tag}-1"),
                                                ("name", f"ls-{tag}-3")]))["networks"]
    assert {n["id"] for n in got} == {nets[1]["id"], nets[3]["id"]}
    got = ok(env.a.get("v2.0/networks", params={"name": f"ls-{tag}-1",
                                                "admin_state_up": "false"}))["networks"]
    assert got == []
    got = ok(env.a.get("v2.0/networks", params={"tenant_id": env.project_a,
                                                "name": f"ls-{tag}-2"}))["networks"]
    assert len(got) == 1
    got = ok(env.a.get("v2.0/networks", params={"id": nets[4]["id"]}))["networks"]
    assert [n["id"] for n in got] == [nets[4]["id"]]
    # an unknown attribute does not filter
    got = ok(env.a.get("v2.0/networks", params={"name": f"ls-{tag}-0", "nosuch": "x"}))
    assert len(got["networks"]) == 1


def test_list_fields(env, listing):
    tag, nets = listing
    got = ok(env.a.get("v2.0/networks", params=[("fields", "id"), ("fields", "name"),
                                                ("name", f"ls-{tag}-0")]))["networks"]
    assert got == [{"id": nets[0]["id"], "name": nets[0]["name"]}]


def test_list_sort(env, listing):
    tag, nets = listing
    mine = [n for n in ok(env.a.get("v2.0/networks", params={
        "sort_key": "description", "sort_dir": "asc"}))["networks"]
        if n["name"].startswith(f"ls-{tag}")]
    assert [n["description"] for n in mine] == ["1", "2", "3", "4", "5"]
    mine = [n for n in ok(env.a.get("v2.0/networks", params=[
        ("sort_key", "name"), ("sort_dir", "desc")]))["networks"]
        if n["name"].startswith(f"ls-{tag}")]
    assert [n["name"] for n in mine] == [f"ls-{tag}-{i}" for i in (4, 3, 2, 1, 0)]
    err(env.a.get("v2.0/networks", params={"sort_key": "name", "sort_dir": "up"}), 400)
    err(env.a.get("v2.0/networks", params={"sort_key": "nosuch", "sort_dir": "asc"}), 400)
    err(env.a.get("v2.0/networks", params={"sort_key": "name"}), 400)


def test_list_pagination(env, listing):
    tag, nets = listing
    want = sorted(n["id"] for n in nets)
    params = {"sort_key": "id", "sort_dir": "asc", "limit": 2}
    seen, page = [], ok(env.a.get("v2.0/networks", params=params))
    total = len(ok(env.a.get("v2.0/networks"))["networks"])
    while True:
        seen += [n["id"] for n in page["networks"]]
        nxt = [link for link in page.get("networks_links", []) if link["rel"] == "next"]
        if not nxt:
            break
        assert "marker=" in nxt[0]["href"] and "limit=2" in nxt[0]["href"]
        page = ok(env.a.get(nxt[0]["href"]))
    assert len(seen) == total and seen == sorted(seen)
    assert [i for i in seen if i in want] == want
    # page_reverse from a marker gives the items before it, in order
    mid = seen[3]
    back = ok(env.a.get("v2.0/networks", params={"sort_key": "id", "sort_dir": "asc",
                                                 "limit": 2, "marker": mid,
                                                 "page_reverse": "True"}))
    assert [n["id"] for n in back["networks"]] == seen[1:3]
    assert any(link["rel"] == "previous" for link in back["networks_links"])
    err(env.a.get("v2.0/networks", params={"limit": 2, "marker": str(uuid.uuid4())}),
        404, "NetworkNotFound")
    err(env.a.get("v2.0/networks", params={"limit": "-1"}), 400, "BadRequest")
    err(env.a.get("v2.0/networks", params={"limit": "x"}), 400)


# ---------------------------------------------------------------- subnets

def test_subnet_seed_example(env):
    """The seed's `neutron subnet-create flat 192.168.56.0/24 ...` as raw API."""
    n = mk_net(env.a)
    s = mk_subnet(env.a, n, "192.168.56.0/24", name="flat-subnet", gateway_ip="192.168.56.2",
                  dns_nameservers=["192.168.56.2"],
                  allocation_pools=[{"start": "192.168.56.100", "end": "192.168.56.200"}])
    assert s["gateway_ip"] == "192.168.56.2" and s["enable_dhcp"] is True
    assert s["allocation_pools"] == [{"start": "192.168.56.100", "end": "192.168.56.200"}]
    assert s["dns_nameservers"] == ["192.168.56.2"] and s["host_routes"] == []
    assert s["ip_version"] == 4 and s["ipv6_ra_mode"] is None and s["subnetpool_id"] is None
    assert s["project_id"] == s["tenant_id"] == env.project_a
    got = ok(env.a.get(f"v2.0/networks/{n['id']}"))["network"]
    assert got["subnets"] == [s["id"]]


def test_subnet_defaults(env):
    n = mk_net(env.a)
    s = mk_subnet(env.a, n, "10.10.0.5/24")        # host bits are dropped
    assert s["cidr"] == "10.10.0.0/24" and s["gateway_ip"] == "10.10.0.1"
    assert s["allocation_pools"] == [{"start": "10.10.0.2", "end": "10.10.0.254"}]
    n2 = mk_net(env.a)
    s2 = mk_subnet(env.a, n2, "10.11.0.0/24", gateway_ip=None)
    assert s2["gateway_ip"] is None
    assert s2["allocation_pools"] == [{"start": "10.11.0.1", "end": "10.11.0.254"}]
    n3 = mk_net(env.a)
    s3 = mk_subnet(env.a, n3, "10.12.0.0/24", gateway_ip="10.12.0.100")
    assert s3["allocation_pools"] == [{"start": "10.12.0.1", "end": "10.12.0.99"},
                                      {"start": "10.12.0.101", "end": "10.12.0.254"}]


def test_subnet_ipv6(env):
    n = mk_net(env.a)
    s = mk_subnet(env.a, n, "2001:DB8:1::/64", ipv6_ra_mode="slaac",
                  ipv6_address_mode="slaac")
    assert s["cidr"] == "2001:db8:1::/64" and s["ip_version"] == 6
    assert s["ipv6_address_mode"] == "slaac"
    assert s["allocation_pools"][0]["end"] == "2001:db8:1:0:ffff:ffff:ffff:ffff"
    err(env.a.post("v2.0/subnets", {"subnet": {
        "network_id": n["id"], "cidr": "2001:db8:2::/80", "ip_version": 6,
        "ipv6_address_mode": "slaac"}}), 400, "InvalidInput",
        "which requires the prefix to be /64")
    err(env.a.post("v2.0/subnets", {"subnet": {
        "network_id": n["id"], "cidr": "2001:db8:3::/64", "ip_version": 6,
        "ipv6_address_mode": "slaac", "ipv6_ra_mode": "dhcpv6-stateful"}}), 400,
        "InvalidInput", "must be the same value")
    err(env.a.post("v2.0/subnets", {"subnet": {
        "network_id": n["id"], "cidr": "10.0.0.0/24", "ip_version": 4,
        "ipv6_ra_mode": "slaac"}}), 400, "InvalidInput", "ipv6_ra_mode is not valid")
    s2 = mk_subnet(env.a, n, "fd00:1::/64", gateway_ip="fd00:1::1")
    assert s2["allocation_pools"] == [{"start": "fd00:1::2",
                                       "end": "fd00:1::ffff:ffff:ffff:ffff"}]


@pytest.mark.parametrize("extra,code,etype,text", [
    ({"cidr": "10.0.0.0"}, 400, None, "'10.0.0.0' is not a valid IP subnet"),
    ({"cidr": "10.0.0.0/33"}, 400, None, "is not a valid IP subnet"),
    ({"cidr": "not-a-cidr"}, 400, None, "is not a valid IP subnet"),
    ({"cidr": "fd00::/64"}, 400, "InvalidInput", "does not match the ip_version '4'"),
    ({"ip_version": 5}, 400, None, "5 is not in [4, 6]"),
    ({"ip_version": None}, 400, None, "is not an integer"),
    ({"cidr": "10.0.0.0/31"}, 400, "InvalidInput", "incompatible with DHCP"),
    ({"cidr": "0.0.0.0/0", "enable_dhcp": False}, 400, "InvalidInput",
     "0 is not allowed as CIDR prefix length"),
    ({"gateway_ip": "10.0.0.0"}, 400, "InvalidInput", "Gateway is not valid on subnet"),
    ({"gateway_ip": "banana"}, 400, None, "is not a valid IP address"),
    ({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.1.5"}]}, 400,
     "OutOfBoundsAllocationPool", "spans beyond the subnet cidr 10.0.0.0/24"),
    ({"allocation_pools": [{"start": "10.0.0.50", "end": "10.0.0.10"}]}, 400,
     "InvalidAllocationPool", None),
    ({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.50"},
                           {"start": "10.0.0.40", "end": "10.0.0.60"}]}, 409,
     "OverlappingAllocationPools", None),
    ({"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.50"}]}, 409,
     "GatewayConflictWithAllocationPools", "Gateway ip 10.0.0.1 conflicts"),
    ({"allocation_pools": [{"start": "10.0.0.1"}]}, 400, None, "Expected keys"),
    ({"dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, 400, None, "Duplicate nameserver"),
    ({"dns_nameservers": ["x"]}, 400, None, "'x' is not a valid nameserver"),
    ({"dns_nameservers": ["1.1.1.%d" % i for i in range(6)]}, 400,
     "DNSNameServersExhausted", None),
    ({"host_routes": [{"destination": "10.9.0.0/16"}]}, 400, None, "Expected keys"),
    ({"host_routes": [{"destination": "10.9.0.0/16", "nexthop": "fd00::1"}]}, 400,
     "InvalidInput", "nexthop 'fd00::1' does not match the ip_version '4'"),
    ({"network_id": "nope"}, 400, None, "'nope' is not a valid UUID"),
    ({"network_id": str(uuid.UUID(int=7))}, 404, "NetworkNotFound", None),
    ({"cidr": None}, 400, "BadRequest", "a subnetpool must be specified"),
    ({"prefixlen": 24}, 400, "BadRequest", "cidr and prefixlen must not be supplied"),
])
def test_subnet_bad_input(env, extra, code, etype, text):
    n = mk_net(env.a)
    body = {"network_id": n["id"], "cidr": "10.0.0.0/24", "ip_version": 4}
    body.update(extra)
    body = {k: v for k, v in body.items() if not (k == "cidr" and v is None)}
    err(env.a.post("v2.0/subnets", {"subnet": body}), code, etype, text)
    # nothing half-created
    assert ok(env.a.get("v2.0/subnets", params={"network_id": n["id"]}))["subnets"] == []


def test_subnet_overlap(env):
    n = mk_net(env.a)
    mk_subnet(env.a, n, "10.20.0.0/16")
    msg = err(env.a.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                                     "cidr": "10.20.5.0/24"}}),
              400, "InvalidInput")
    assert msg == (f"Invalid input for operation: Requested subnet with cidr: 10.20.5.0/24 "
                   f"for network: {n['id']} overlaps with another subnet.")
    # another network may reuse the range
    mk_subnet(env.a, mk_net(env.a), "10.20.5.0/24")


def test_subnet_policy(env):
    priv = mk_net(env.a)
    err(env.b.post("v2.0/subnets", {"subnet": {"network_id": priv["id"], "ip_version": 4,
                                               "cidr": "10.30.0.0/24"}}), 404,
        "NetworkNotFound")
    sh = mk_net(env.admin, shared=True)
    err(env.b.post("v2.0/subnets", {"subnet": {"network_id": sh["id"], "ip_version": 4,
                                               "cidr": "10.31.0.0/24"}}), 403)
    s = mk_subnet(env.admin, sh, "10.31.0.0/24")
    # b sees the subnet of the shared network, but cannot change it
    assert ok(env.b.get(f"v2.0/subnets/{s['id']}"))["subnet"]["id"] == s["id"]
    err(env.b.put(f"v2.0/subnets/{s['id']}", {"subnet": {"name": "x"}}), 403)
    s_a = mk_subnet(env.a, priv, "10.30.0.0/24")
    err(env.b.get(f"v2.0/subnets/{s_a['id']}"), 404, "SubnetNotFound")
    err(env.b.delete(f"v2.0/subnets/{s_a['id']}"), 404)
    assert s_a["id"] not in {x["id"] for x in ok(env.b.get("v2.0/subnets"))["subnets"]}
    ok(env.admin.delete(f"v2.0/networks/{sh['id']}"), 204)


def test_subnet_update(env):
    n = mk_net(env.a)
    s = mk_subnet(env.a, n, "10.40.0.0/24", allocation_pools=[
        {"start": "10.40.0.10", "end": "10.40.0.20"}])
    u = ok(env.a.put(f"v2.0/subnets/{s['id']}", {"subnet": {
        "name": "new", "dns_nameservers": ["8.8.8.8", "8.8.4.4"], "enable_dhcp": False,
        "host_routes": [{"destination": "10.50.0.0/16", "nexthop": "10.40.0.5"}],
        "allocation_pools": [{"start": "10.40.0.30", "end": "10.40.0.40"},
                             {"start": "10.40.0.2", "end": "10.40.0.9"}],
        "gateway_ip": "10.40.0.254"}}))["subnet"]
    assert u["name"] == "new" and u["dns_nameservers"] == ["8.8.8.8", "8.8.4.4"]
    assert u["enable_dhcp"] is False and u["gateway_ip"] == "10.40.0.254"
    assert u["allocation_pools"] == [{"start": "10.40.0.2", "end": "10.40.0.9"},
                                     {"start": "10.40.0.30", "end": "10.40.0.40"}]
    assert u["host_routes"] == [{"destination": "10.50.0.0/16", "nexthop": "10.40.0.5"}]
    assert u["revision_number"] == s["revision_number"] + 1
    err(env.a.put(f"v2.0/subnets/{s['id']}", {"subnet": {"gateway_ip": "10.40.0.35"}}),
        409, "GatewayConflictWithAllocationPools")
    err(env.a.put(f"v2.0/subnets/{s['id']}", {"subnet": {"cidr": "10.41.0.0/24"}}), 400,
        text="Cannot update read-only attribute cidr")
    err(env.a.put(f"v2.0/subnets/{s['id']}", {"subnet": {"gateway_ip": "fd00::1"}}), 400,
        "InvalidInput")
    u = ok(env.a.put(f"v2.0/subnets/{s['id']}", {"subnet": {"gateway_ip": None,
                                                            "dns_nameservers": []}}))["subnet"]
    assert u["gateway_ip"] is None and u["dns_nameservers"] == []
    got = ok(env.a.get(f"v2.0/subnets/{s['id']}"))["subnet"]
    assert got["allocation_pools"] == u["allocation_pools"]


def test_subnet_list_filters(env):
    n = mk_net(env.a)
    s4 = mk_subnet(env.a, n, "10.60.0.0/24")
    s6 = mk_subnet(env.a, n, "fd60::/64")
    got = ok(env.a.get("v2.0/subnets", params={"network_id": n["id"]}))["subnets"]
    assert {s["id"] for s in got} == {s4["id"], s6["id"]}
    got = ok(env.a.get("v2.0/subnets", params={"network_id": n["id"], "ip_version": 6}))
    assert [s["id"] for s in got["subnets"]] == [s6["id"]]
    got = ok(env.a.get("v2.0/subnets", params={"cidr": "10.60.0.0/24"}))["subnets"]
    assert [s["id"] for s in got] == [s4["id"]]


def test_subnet_delete(env):
    n = mk_net(env.a)
    s = mk_subnet(env.a, n, "10.70.0.0/24")
    ok(env.a.delete(f"v2.0/subnets/{s['id']}"), 204)
    err(env.a.get(f"v2.0/subnets/{s['id']}"), 404, "SubnetNotFound")
    assert ok(env.a.get(f"v2.0/networks/{n['id']}"))["network"]["subnets"] == []


def test_subnet_quota(env):
    ok(env.admin.put(f"v2.0/quotas/{env.project_b}", {"quota": {"subnet": 0}}))
    try:
        n = mk_net(env.b)
        err(env.b.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                                   "cidr": "10.1.0.0/24"}}), 409, "OverQuota")
        ok(env.b.delete(f"v2.0/networks/{n['id']}"), 204)
    finally:
        ok(env.admin.delete(f"v2.0/quotas/{env.project_b}"), 204)


# ---------------------------------------------------------------- IPAM through ports

def test_ipam_ports(env):
    if not ports_api(env):
        pytest.skip("ports API not available")
    n = mk_net(env.a)
    s = mk_subnet(env.a, n, "10.90.0.0/29")     # pool .2 - .6
    p1 = ok(mk_port(env.a, n), 201)["port"]
    assert p1["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.90.0.2"}]
    p2 = ok(mk_port(env.a, n, fixed_ips=[{"ip_address": "10.90.0.5"}]), 201)["port"]
    assert p2["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.90.0.5"}]
    err(mk_port(env.a, n, fixed_ips=[{"subnet_id": s["id"], "ip_address": "10.90.0.5"}]),
        409, "IpAddressAlreadyAllocated")
    err(mk_port(env.a, n, fixed_ips=[{"subnet_id": s["id"], "ip_address": "10.91.0.5"}]),
        400, "InvalidIpForSubnet")
    err(mk_port(env.a, n, fixed_ips=[{"ip_address": "10.91.0.5"}]), 400,
        "InvalidIpForNetwork")
    err(mk_port(env.a, n, fixed_ips=[{"subnet_id": str(uuid.uuid4())}]), 404,
        "SubnetNotFound")
    other = mk_subnet(env.a, mk_net(env.a), "10.92.0.0/24")
    err(mk_port(env.a, n, fixed_ips=[{"subnet_id": other["id"]}]), 400, "InvalidInput")
    # a port outside the pools but inside the subnet is fine when asked for
    p3 = ok(mk_port(env.a, n, fixed_ips=[{"ip_address": "10.90.0.1"}]), 201)["port"]
    ports = [p1, p2, p3]
    for _ in range(3):                  # .3 .4 .6
        ports.append(ok(mk_port(env.a, n), 201)["port"])
    assert {p["fixed_ips"][0]["ip_address"] for p in ports[3:]} == {
        "10.90.0.3", "10.90.0.4", "10.90.0.6"}
    err(mk_port(env.a, n), 409, "IpAddressGenerationFailure")
    # the subnet is in use now
    err(env.a.delete(f"v2.0/subnets/{s['id']}"), 409, "SubnetInUse")
    ok(env.a.delete(f"v2.0/ports/{p2['id']}"), 204)
    p = ok(mk_port(env.a, n), 201)["port"]
    assert p["fixed_ips"][0]["ip_address"] == "10.90.0.5"
    ports.append(p)
    for p in ports:
        if p["id"] != p2["id"]:
            ok(env.a.delete(f"v2.0/ports/{p['id']}"), 204)
    ok(env.a.delete(f"v2.0/subnets/{s['id']}"), 204)


def test_ipam_dhcp_port_does_not_block_subnet_delete(env):
    if not ports_api(env):
        pytest.skip("ports API not available")
    n = mk_net(env.a)
    s = mk_subnet(env.a, n, "10.93.0.0/24")
    dhcp = ok(mk_port(env.admin, n, device_owner="network:dhcp", tenant_id=env.project_a),
              201)["port"]
    ok(env.a.delete(f"v2.0/subnets/{s['id']}"), 204)
    got = ok(env.admin.get(f"v2.0/ports/{dhcp['id']}"))["port"]
    assert got["fixed_ips"] == []


# ---------------------------------------------------------------- subnet pools

def test_subnetpool_crud_and_allocation(env):
    sp = ok(env.a.post("v2.0/subnetpools", {"subnetpool": {
        "name": name("sp"), "prefixes": ["10.100.0.0/16", "10.101.0.0/16"],
        "default_prefixlen": 24, "min_prefixlen": 20, "max_prefixlen": 28}}), 201)["subnetpool"]
    assert sp["prefixes"] == ["10.100.0.0/15"]      # compacted, as netaddr does
    assert sp["ip_version"] == 4 and sp["shared"] is False and sp["is_default"] is False
    assert sp["default_quota"] is None and sp["project_id"] == env.project_a
    n = mk_net(env.a)
    s1 = ok(env.a.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                                   "subnetpool_id": sp["id"]}}),
            201)["subnet"]
    assert s1["cidr"] == "10.100.0.0/24" and s1["subnetpool_id"] == sp["id"]
    assert s1["gateway_ip"] == "10.100.0.1"
    s2 = ok(env.a.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                                   "subnetpool_id": sp["id"],
                                                   "prefixlen": 26}}), 201)["subnet"]
    assert s2["cidr"] == "10.100.1.0/26"
    s3 = ok(env.a.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                                   "subnetpool_id": sp["id"],
                                                   "cidr": "10.101.7.0/24"}}), 201)["subnet"]
    assert s3["cidr"] == "10.101.7.0/24"
    err(env.a.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                               "subnetpool_id": sp["id"], "prefixlen": 30}}),
        400, "MaxPrefixSubnetAllocationError")
    err(env.a.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                               "subnetpool_id": sp["id"], "prefixlen": 16}}),
        400, "MinPrefixSubnetAllocationError")
    err(env.a.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 6,
                                               "subnetpool_id": sp["id"]}}), 400, "BadRequest")
    err(env.a.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 4,
                                               "subnetpool_id": sp["id"],
                                               "cidr": "10.200.0.0/24"}}), 500,
        "SubnetAllocationError")
    # in use
    err(env.a.delete(f"v2.0/subnetpools/{sp['id']}"), 400, "SubnetPoolDeleteError")
    # prefixes only grow
    err(env.a.put(f"v2.0/subnetpools/{sp['id']}", {"subnetpool": {
        "prefixes": ["10.100.0.0/16"]}}), 400, "IllegalSubnetPoolPrefixUpdate")
    u = ok(env.a.put(f"v2.0/subnetpools/{sp['id']}", {"subnetpool": {
        "prefixes": ["10.100.0.0/15", "192.168.0.0/16"], "name": "sp2",
        "default_prefixlen": 25}}))["subnetpool"]
    assert u["prefixes"] == ["10.100.0.0/15", "192.168.0.0/16"]
    assert u["name"] == "sp2" and u["default_prefixlen"] == 25
    got = ok(env.a.put(f"v2.0/subnetpools/{sp['id']}/add_prefixes",
                       {"prefixes": ["172.16.0.0/24"]}))["prefixes"]
    assert "172.16.0.0/24" in got
    err(env.b.get(f"v2.0/subnetpools/{sp['id']}"), 404, "SubnetPoolNotFound")
    for s in (s1, s2, s3):
        ok(env.a.delete(f"v2.0/subnets/{s['id']}"), 204)
    ok(env.a.delete(f"v2.0/subnetpools/{sp['id']}"), 204)
    err(env.a.get(f"v2.0/subnetpools/{sp['id']}"), 404)


@pytest.mark.parametrize("body,code,etype", [
    ({"prefixes": ["10.0.0.0/8"]}, 400, None),                         # no name
    ({"name": "", "prefixes": ["10.0.0.0/8"]}, 400, None),
    ({"name": "x", "prefixes": []}, 400, "EmptySubnetPoolPrefixList"),
    ({"name": "x", "prefixes": ["10.0.0.0/8", "fd00::/8"]}, 400, "PrefixVersionMismatch"),
    ({"name": "x", "prefixes": ["10.0.0.0"]}, 400, None),
    ({"name": "x", "prefixes": ["10.0.0.0/8"], "min_prefixlen": 24, "max_prefixlen": 16},
     400, "IllegalSubnetPoolPrefixBounds"),
    ({"name": "x", "prefixes": ["10.0.0.0/8"], "max_prefixlen": 33}, 400,
     "IllegalSubnetPoolPrefixBounds"),
    ({"name": "x", "prefixes": ["10.0.0.0/8"], "shared": True}, 403, "PolicyNotAuthorized"),
    ({"name": "x", "prefixes": ["10.0.0.0/8"], "is_default": True}, 403, None),
])
def test_subnetpool_bad_input(env, body, code, etype):
    err(env.a.post("v2.0/subnetpools", {"subnetpool": body}), code, etype)


def test_subnetpool_default_and_shared(env):
    sp = ok(env.admin.post("v2.0/subnetpools", {"subnetpool": {
        "name": name("sp"), "prefixes": ["fd77::/48"], "shared": True,
        "is_default": True}}), 201)["subnetpool"]
    assert sp["min_prefixlen"] == 64 and sp["default_prefixlen"] == 64
    assert sp["max_prefixlen"] == 128
    err(env.admin.post("v2.0/subnetpools", {"subnetpool": {
        "name": name("sp"), "prefixes": ["fd78::/48"], "is_default": True}}), 400,
        "InvalidInput")
    # visible to every project; used by use_default_subnetpool
    assert ok(env.b.get(f"v2.0/subnetpools/{sp['id']}"))["subnetpool"]["shared"] is True
    n = mk_net(env.b)
    s = ok(env.b.post("v2.0/subnets", {"subnet": {"network_id": n["id"], "ip_version": 6,
                                                  "use_default_subnetpool": True}}),
           201)["subnet"]
    assert s["cidr"] == "fd77::/64" and s["subnetpool_id"] == sp["id"]
    ok(env.b.delete(f"v2.0/networks/{n['id']}"), 204)
    ok(env.admin.delete(f"v2.0/subnetpools/{sp['id']}"), 204)


# ---------------------------------------------------------------- quotas

def test_quotas(env):
    adm = env.admin
    q = ok(env.a.get(f"v2.0/quotas/{env.project_a}"))["quota"]
    assert q["network"] == 100 and q["subnet"] == 100 and q["port"] == 500
    assert q["router"] == 10 and q["floatingip"] == 50
    assert q["security_group"] == 10 and q["security_group_rule"] == 100
    assert ok(env.a.get(f"v2.0/quotas/{env.project_a}/default"))["quota"] == q
    err(env.a.get(f"v2.0/quotas/{env.project_b}"), 403)
    err(env.a.put(f"v2.0/quotas/{env.project_a}", {"quota": {"network": 5}}), 403)
    assert ok(env.a.get("v2.0/quotas/tenant"))["tenant"]["tenant_id"] == env.project_a
    u = ok(adm.put(f"v2.0/quotas/{env.project_b}", {"quota": {"network": 7, "port": -1}}))
    assert u["quota"]["network"] == 7 and u["quota"]["port"] == -1
    listed = ok(adm.get("v2.0/quotas"))["quotas"]
    mine = [x for x in listed if x["project_id"] == env.project_b]
    assert mine and mine[0]["network"] == 7 and mine[0]["tenant_id"] == env.project_b
    d = ok(adm.get(f"v2.0/quotas/{env.project_b}/details.json"))["quota"]
    assert d["network"]["limit"] == 7 and "used" in d["network"] and d["port"]["reserved"] == 0
    err(adm.put(f"v2.0/quotas/{env.project_b}", {"quota": {"network": -2}}), 400,
        text="Invalid input for network. Reason: '-2' is too small - must be at least '-1'")
    err(adm.put(f"v2.0/quotas/{env.project_b}", {"quota": {"nets": 2}}), 400,
        text="Unrecognized attribute(s) 'nets'")
    err(adm.put(f"v2.0/quotas/{env.project_b}", {"quota": {"network": "lots"}}), 400)
    n = mk_net(env.b)
    err(adm.put(f"v2.0/quotas/{env.project_b}", {"quota": {"network": 0}}), 400,
        text="must be greater than or equal to already used")
    ok(env.b.delete(f"v2.0/networks/{n['id']}"), 204)
    ok(adm.delete(f"v2.0/quotas/{env.project_b}"), 204)
    assert ok(adm.get(f"v2.0/quotas/{env.project_b}"))["quota"]["network"] == 100
    err(adm.delete(f"v2.0/quotas/{env.project_b}"), 404)


# ---------------------------------------------------------------- tags

def test_tags(env):
    n = mk_net(env.a)
    base = f"v2.0/networks/{n['id']}/tags"
    ok(env.a.put(f"{base}/red"), 201)
    ok(env.a.put(f"{base}/red"), 201)
    ok(env.a.get(f"{base}/red"), 204)
    err(env.a.get(f"{base}/blue"), 404, "TagNotFound")
    assert ok(env.a.get(base))["tags"] == ["red"]
    got = ok(env.a.put(base, {"tags": ["b", "a", "c"]}))["tags"]
    assert sorted(got) == ["a", "b", "c"]
    assert sorted(ok(env.a.get(f"v2.0/networks/{n['id']}"))["network"]["tags"]) == [
        "a", "b", "c"]
    ids = lambda **p: {x["id"] for x in ok(env.a.get("v2.0/networks", params=p))["networks"]}
    assert n["id"] in ids(tags="a,b")
    assert n["id"] not in ids(tags="a,z")
    assert n["id"] in ids(**{"tags-any": "z,a"})
    assert n["id"] not in ids(**{"not-tags": "a,b"})
    assert n["id"] in ids(**{"not-tags-any": "z"})
    ok(env.a.delete(f"{base}/a"), 204)
    err(env.a.delete(f"{base}/a"), 404)
    err(env.a.put(f"{base}/" + "x" * 61), 400)
    err(env.b.get(base), 404, "NetworkNotFound")
    ok(env.a.delete(base), 204)
    assert ok(env.a.get(base))["tags"] == []
    s = mk_subnet(env.a, n, "10.123.0.0/24")
    ok(env.a.put(f"v2.0/subnets/{s['id']}/tags/t1"), 201)
    assert ok(env.a.get(f"v2.0/subnets/{s['id']}"))["subnet"]["tags"] == ["t1"]
    err(env.a.get(f"v2.0/widgets/{s['id']}/tags"), 404)


def test_external_network_delete_takes_unassociated_floating_ips(env):
    """Neutron's BEFORE_DELETE callback: free floating IPs go with the network."""
    if env.admin.get("v2.0/floatingips").status_code != 200:
        pytest.skip("floating IP API not available")
    ext = mk_net(env.admin, **{"router:external": True})
    s = mk_subnet(env.admin, ext, "198.51.100.0/24", enable_dhcp=False)
    fip = ok(env.admin.post("v2.0/floatingips", {"floatingip": {
        "floating_network_id": ext["id"]}}), 201)["floatingip"]
    ok(env.admin.delete(f"v2.0/networks/{ext['id']}"), 204)
    err(env.admin.get(f"v2.0/floatingips/{fip['id']}"), 404)
    err(env.admin.get(f"v2.0/subnets/{s['id']}"), 404)
