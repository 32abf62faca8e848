"""The Network service's L3 API (Neutron routers and floating IPs) against a
real `kumo all` (conftest.py; the agents are off, so only the API and the
database are exercised here - test_network_dataplane.py makes them real).

Covers routers (CRUD, the external gateway with SNAT and fixed IPs, its
admin-only attributes, add/remove_router_interface by subnet and by port,
static routes and add/remove_extraroutes, deletion rules), floating IPs
(allocation, association through a router, disassociation, one floating IP
per fixed IP, status), Neutron's error types and messages for bad input and
conflicts, other projects' resources, that a failed request leaves nothing
behind, and the real clients: `openstack router ...`, `openstack floating ip
...`, `neutron router-create`, `neutron floatingip-create`.
"""

import ipaddress
import json
import os
import subprocess
import uuid

import pytest

from conftest import Api

PUBLIC_CIDR = "203.0.113.0/24"


# ---------------------------------------------------------------- helpers

class V2Api(Api):
    """Client for the network API with paths relative to /v2.0 ("routers")."""

    def url(self, path):
        if path.startswith("http"):
            return path
        return f"{self.base}/v2.0/{path.lstrip('/')}"


def ok(r, code=200):
    assert r.status_code == code, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


def nerr(r, code, etype=None, text=None):
    """Assert a Neutron error body and return its message."""
    assert r.status_code == code, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    body = r.json()
    assert set(body) == {"NeutronError"}, body
    e = body["NeutronError"]
    assert set(e) == {"type", "message", "detail"}, e
    if etype is not None:
        assert e["type"] == etype, e
    if text is not None:
        assert text in e["message"], e["message"]
    return e["message"]


class Env:
    """Projects a and b with a member user each, the admin, and an external
    network 'public' with one IPv4 subnet."""

    def net(self, api, **kw):
        kw.setdefault("name", "l3-net-" + uuid.uuid4().hex[:6])
        n = ok(api.post("networks", {"network": kw}), 201)["network"]
        self.cleanup.append((api, "networks/" + n["id"]))
        return n

    def subnet(self, api, net, cidr, **kw):
        body = {"network_id": net["id"], "cidr": cidr, "ip_version":
                ipaddress.ip_network(cidr).version}
        body.update(kw)
        s = ok(api.post("subnets", {"subnet": body}), 201)["subnet"]
        self.cleanup.append((api, "subnets/" + s["id"]))
        return s

    def port(self, api, net, **kw):
        body = {"network_id": net["id"]}
        body.update(kw)
        p = ok(api.post("ports", {"port": body}), 201)["port"]
        self.cleanup.append((api, "ports/" + p["id"]))
        return p

    def router(self, api, **kw):
        kw.setdefault("name", "l3-r-" + uuid.uuid4().hex[:6])
        rt = ok(api.post("routers", {"router": kw}), 201)["router"]
        self.routers.append((api, rt["id"]))
        return rt

    def fip(self, api, **kw):
        kw.setdefault("floating_network_id", self.public["id"])
        f = ok(api.post("floatingips", {"floatingip": kw}), 201)["floatingip"]
        self.cleanup.append((api, "floatingips/" + f["id"]))
        return f

    def tenant(self, api, cidr, **kw):
        """A network with one subnet (gateway .1) of api's project."""
        n = self.net(api)
        return n, self.subnet(api, n, cidr, **kw)


_cidr_counter = [0]


def cidr24():
    """A fresh 10.x.y.0/24 for this run."""
    _cidr_counter[0] += 1
    n = _cidr_counter[0]
    return f"10.{100 + n // 250}.{n % 250}.0/24"


def teardown_router(api, admin, rid):
    """Remove a router's interfaces and the router (ignoring what is gone)."""
    ports = admin.get("ports", params={"device_id": rid}).json().get("ports", [])
    for p in ports:
        if p["device_owner"] == "network:router_interface":
            admin.put(f"routers/{rid}/remove_router_interface", {"port_id": p["id"]})
    admin.put(f"routers/{rid}", {"router": {"routes": []}})
    admin.delete(f"routers/{rid}")


@pytest.fixture(scope="module")
def env(kumo, admin):
    e = Env()
    e.cleanup, e.routers = [], []
    tag = uuid.uuid4().hex[:8]
    base = kumo.network_url
    roles = {r["name"]: r["id"] for r in ok(admin.get("roles"))["roles"]}
    e.pw = "pw-" + tag
    for p in ("a", "b"):
        proj = ok(admin.post("projects", {"project": {"name": f"l3-{p}-{tag}",
                                                      "domain_id": "default"}}), 201)["project"]
        user = ok(admin.post("users", {"user": {"name": f"l3-{p}-{tag}", "password": e.pw,
                                                "domain_id": "default"}}), 201)["user"]
        ok(admin.put(f"projects/{proj['id']}/users/{user['id']}/roles/{roles['member']}"), 204)
        setattr(e, f"project_{p}", proj["id"])
        setattr(e, f"user_{p}", user["name"])
        setattr(e, f"pname_{p}", proj["name"])
        setattr(e, p, V2Api(base, kumo.token(user["name"], e.pw, project=proj["id"])))
    e.admin = V2Api(base, kumo.token(kumo.admin_user, kumo.admin_password,
                                          project=kumo.admin_project))
    e.base = base
    for p in (e.project_a, e.project_b):     # room for every test's routers
        r = e.admin.put("quotas/" + p, {"quota": {"router": 100, "floatingip": 100}})
        assert r.status_code in (200, 404), r.text
    e.public = ok(e.admin.post("networks", {"network": {
        "name": "l3-public-" + tag, "router:external": True}}), 201)["network"]
    e.public_subnet = ok(e.admin.post("subnets", {"subnet": {
        "network_id": e.public["id"], "cidr": PUBLIC_CIDR, "ip_version": 4,
        "gateway_ip": "203.0.113.1", "enable_dhcp": False,
        "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.200"}]}}),
        201)["subnet"]
    yield e
    for api, rid in reversed(e.routers):
        teardown_router(api, e.admin, rid)
    for api, path in reversed(e.cleanup):
        e.admin.delete(path)
    e.admin.delete("subnets/" + e.public_subnet["id"])
    e.admin.delete("networks/" + e.public["id"])
    for p in (e.project_a, e.project_b):
        e.admin.delete("quotas/" + p)


def admin_ports(env, **params):
    return ok(env.admin.get("ports", params=params))["ports"]


def in_public(ip):
    return ipaddress.ip_address(ip) in ipaddress.ip_network(PUBLIC_CIDR)


# ---------------------------------------------------------------- routers

def test_router_crud(env):
    rt = env.router(env.a, description="first")
    assert rt["admin_state_up"] is True and rt["status"] == "ACTIVE"
    assert rt["external_gateway_info"] is None and rt["routes"] == []
    assert rt["project_id"] == rt["tenant_id"] == env.project_a
    assert rt["description"] == "first"
    for k in ("created_at", "updated_at", "revision_number", "tags"):
        assert k in rt, k
    assert "gw_port_id" not in rt
    shown = ok(env.a.get("routers/" + rt["id"]))["router"]
    assert shown["name"] == rt["name"] and shown["id"] == rt["id"]
    lst = ok(env.a.get("routers", params={"name": rt["name"]}))["routers"]
    assert [x["id"] for x in lst] == [rt["id"]]
    only = ok(env.a.get("routers/" + rt["id"], params={"fields": "name"}))["router"]
    assert only == {"name": rt["name"]}
    up = ok(env.a.put("routers/" + rt["id"], {"router": {
        "name": "renamed", "admin_state_up": False, "description": ""}}))["router"]
    assert up["name"] == "renamed" and up["admin_state_up"] is False
    assert up["revision_number"] > rt["revision_number"]
    assert ok(env.a.get("routers", params={"admin_state_up": "false",
                                           "id": rt["id"]}))["routers"][0]["id"] == rt["id"]
    r = env.a.delete("routers/" + rt["id"])
    assert r.status_code == 204
    nerr(env.a.get("routers/" + rt["id"]), 404, "RouterNotFound",
         f"Router {rt['id']} could not be found")
    nerr(env.a.delete("routers/" + rt["id"]), 404, "RouterNotFound")
    nerr(env.a.put("routers/" + rt["id"], {"router": {"name": "x"}}), 404, "RouterNotFound")


def test_router_list_pagination_and_sort(env):
    names = [f"l3-page-{i}-{uuid.uuid4().hex[:4]}" for i in range(3)]
    ids = [env.router(env.b, name=n)["id"] for n in names]
    got = ok(env.b.get("routers", params={"sort_key": "name", "sort_dir": "desc"}))["routers"]
    mine = [x["name"] for x in got if x["id"] in ids]
    assert mine == sorted(names, reverse=True)
    page = ok(env.b.get("routers", params={"limit": 1}))
    assert len(page["routers"]) == 1 and "routers_links" in page
    nerr(env.b.get("routers", params={"sort_key": "nope", "sort_dir": "asc"}), 400)


def test_router_bad_input(env):
    before = {x["id"] for x in ok(env.a.get("routers"))["routers"]}
    nerr(env.a.post("routers", {"router": {"name": "x", "color": "red"}}), 400, None,
         "Unrecognized attribute(s) 'color'")
    nerr(env.a.post("routers", {"router": {"routes": []}}), 400, None,
         "Attribute 'routes' not allowed in POST")
    nerr(env.a.post("routers", {"router": {"status": "DOWN"}}), 400, None,
         "Attribute 'status' not allowed in POST")
    nerr(env.a.post("routers", {"router": {"admin_state_up": "maybe"}}), 400)
    nerr(env.a.post("routers", {"router": {"name": "n" * 256}}), 400)
    nerr(env.a.post("routers", {"router": {"name": 5}}), 400)
    nerr(env.a.post("routers", {"routers": [{"name": "a"}, {"name": "b"}]}), 400, None,
         "Bulk operation not supported")
    nerr(env.a.post("routers", {"nothing": {}}), 400, None,
         "Unable to find 'router' in request body")
    nerr(env.a.request("POST", "routers", data="{not json",
                       headers={"Content-Type": "application/json"}), 400)
    nerr(env.a.post("routers", {"router": "x"}), 400)
    nerr(env.a.post("routers", {"router": {"external_gateway_info": "public"}}), 400, None,
         "Invalid input for external_gateway_info")
    nerr(env.a.post("routers", {"router": {"external_gateway_info": {"enable_snat": True}}}),
         400, None, "Expected keys: {'network_id'}")
    nerr(env.a.post("routers", {"router": {"external_gateway_info": {
        "network_id": env.public["id"], "foo": 1}}}), 400, None, "Unexpected keys supplied: foo")
    nerr(env.a.post("routers", {"router": {"external_gateway_info": {"network_id": "nope"}}}),
         400, None, "'nope' is not a valid UUID")
    missing = str(uuid.uuid4())
    nerr(env.a.post("routers", {"router": {"external_gateway_info": {"network_id": missing}}}),
         404, "NetworkNotFound", f"Network {missing} could not be found.")
    private, _ = env.tenant(env.a, cidr24())
    nerr(env.a.post("routers", {"router": {"external_gateway_info": {
        "network_id": private["id"]}}}), 400, "BadRequest",
        f"Bad router request: Network {private['id']} is not an external network.")
    nerr(env.a.post("routers", {"router": {"tenant_id": env.project_b}}), 403)
    # nothing was created by any of these
    after = {x["id"] for x in ok(env.a.get("routers"))["routers"]}
    assert after == before
    rt = env.router(env.a)
    nerr(env.a.put("routers/" + rt["id"], {"router": {"tenant_id": env.project_b}}), 400, None,
         "Cannot update read-only attribute")
    nerr(env.a.put("routers/" + rt["id"], {"router": {"id": str(uuid.uuid4())}}), 400, None,
         "Cannot update read-only attribute id")
    nerr(env.a.put("routers/" + rt["id"], {"router": {"routes": "x"}}), 400, None,
         "Invalid input for routes")


def test_gateway_set_and_unset(env):
    rt = env.router(env.a, external_gateway_info={"network_id": env.public["id"]})
    gw = rt["external_gateway_info"]
    assert gw["network_id"] == env.public["id"] and gw["enable_snat"] is True
    assert len(gw["external_fixed_ips"]) == 1
    fixed = gw["external_fixed_ips"][0]
    assert fixed["subnet_id"] == env.public_subnet["id"] and in_public(fixed["ip_address"])
    gp = admin_ports(env, network_id=env.public["id"], device_id=rt["id"])
    assert len(gp) == 1 and gp[0]["device_owner"] == "network:router_gateway"
    assert gp[0]["fixed_ips"][0]["ip_address"] == fixed["ip_address"]
    # the gateway port is not the project's
    assert gp[0]["id"] not in {p["id"] for p in ok(env.a.get("ports"))["ports"]}
    # unset with {}
    up = ok(env.a.put("routers/" + rt["id"], {"router": {"external_gateway_info": {}}}))
    assert up["router"]["external_gateway_info"] is None
    assert admin_ports(env, network_id=env.public["id"], device_id=rt["id"]) == []
    # set again through update, then unset with null
    up = ok(env.a.put("routers/" + rt["id"], {"router": {
        "external_gateway_info": {"network_id": env.public["id"]}}}))["router"]
    assert up["external_gateway_info"]["network_id"] == env.public["id"]
    assert len(admin_ports(env, network_id=env.public["id"], device_id=rt["id"])) == 1
    # the same network again keeps the same port
    port_before = admin_ports(env, network_id=env.public["id"], device_id=rt["id"])[0]["id"]
    ok(env.a.put("routers/" + rt["id"], {"router": {
        "external_gateway_info": {"network_id": env.public["id"]}}}))
    assert admin_ports(env, device_id=rt["id"])[0]["id"] == port_before
    up = ok(env.a.put("routers/" + rt["id"], {"router": {"external_gateway_info": None}}))
    assert up["router"]["external_gateway_info"] is None
    assert admin_ports(env, network_id=env.public["id"], device_id=rt["id"]) == []
    # deleting a router with a gateway removes its port
    rt2 = env.router(env.a, external_gateway_info={"network_id": env.public["id"]})
    assert len(admin_ports(env, device_id=rt2["id"])) == 1
    assert env.a.delete("routers/" + rt2["id"]).status_code == 204
    assert admin_ports(env, device_id=rt2["id"]) == []


def test_gateway_admin_attributes(env):
    pub = env.public["id"]
    nerr(env.a.post("routers", {"router": {"external_gateway_info": {
        "network_id": pub, "enable_snat": False}}}), 403, "PolicyNotAuthorized")
    nerr(env.a.post("routers", {"router": {"external_gateway_info": {
        "network_id": pub, "external_fixed_ips": [{"ip_address": "203.0.113.99"}]}}}), 403)
    rt = env.router(env.a)
    nerr(env.a.put("routers/" + rt["id"], {"router": {"external_gateway_info": {
        "network_id": pub, "enable_snat": False}}}), 403)
    # admins may
    for snat in (False, True):
        r = env.router(env.admin, external_gateway_info={"network_id": pub,
                                                         "enable_snat": snat})
        assert r["external_gateway_info"]["enable_snat"] is snat
    r = env.router(env.admin, external_gateway_info={
        "network_id": pub, "external_fixed_ips": [{"subnet_id": env.public_subnet["id"],
                                                   "ip_address": "203.0.113.150"}]})
    assert r["external_gateway_info"]["external_fixed_ips"] == [
        {"subnet_id": env.public_subnet["id"], "ip_address": "203.0.113.150"}]
    # a used address is a conflict, the subnet's gateway a bad request
    nerr(env.admin.post("routers", {"router": {"external_gateway_info": {
        "network_id": pub, "external_fixed_ips": [{"ip_address": "203.0.113.150"}]}}}), 409)
    nerr(env.admin.post("routers", {"router": {"external_gateway_info": {
        "network_id": pub, "external_fixed_ips": [{"ip_address": "203.0.113.1"}]}}}), 400,
        "BadRequest", "External IP 203.0.113.1 is the same as the gateway IP")
    nerr(env.admin.post("routers", {"router": {"external_gateway_info": {
        "network_id": pub, "external_fixed_ips": [{"ip_address": "198.18.0.1"}]}}}), 400)
    nerr(env.admin.post("routers", {"router": {"external_gateway_info": {
        "network_id": pub, "external_fixed_ips": "x"}}}), 400, None,
        "Invalid data format for fixed IP")
    # change the gateway address in place (admin), reset snat
    up = ok(env.admin.put("routers/" + r["id"], {"router": {"external_gateway_info": {
        "network_id": pub, "enable_snat": False,
        "external_fixed_ips": [{"ip_address": "203.0.113.151"}]}}}))["router"]
    assert up["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == "203.0.113.151"
    assert up["external_gateway_info"]["enable_snat"] is False
    assert len(admin_ports(env, device_id=r["id"])) == 1
    # and .150 is free again
    r3 = env.router(env.admin, external_gateway_info={
        "network_id": pub, "external_fixed_ips": [{"ip_address": "203.0.113.150"}]})
    assert r3["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == "203.0.113.150"


def test_exhausted_external_network(env):
    """A gateway or floating IP that finds no address leaves nothing behind."""
    ext = env.net(env.admin, **{"router:external": True})
    env.subnet(env.admin, ext, "198.51.100.0/29", gateway_ip="198.51.100.1",
               allocation_pools=[{"start": "198.51.100.2", "end": "198.51.100.2"}])
    routers = {x["id"] for x in ok(env.a.get("routers"))["routers"]}
    first = env.router(env.a, external_gateway_info={"network_id": ext["id"]})
    assert first["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == \
        "198.51.100.2"
    nerr(env.a.post("routers", {"router": {"name": "no-room", "external_gateway_info": {
        "network_id": ext["id"]}}}), 409, "IpAddressGenerationFailure")
    assert {x["id"] for x in ok(env.a.get("routers"))["routers"]} == routers | {first["id"]}
    # an update that fails on the gateway changes nothing else either
    rt = env.router(env.a, name="keep-me")
    nerr(env.a.put("routers/" + rt["id"], {"router": {"name": "changed", "external_gateway_info":
                                                      {"network_id": ext["id"]}}}), 409)
    shown = ok(env.a.get("routers/" + rt["id"]))["router"]
    assert shown["name"] == "keep-me" and shown["external_gateway_info"] is None
    assert shown["revision_number"] == rt["revision_number"]
    fips = len(ok(env.admin.get("floatingips"))["floatingips"])
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": ext["id"]}}), 409,
         "IpAddressGenerationFailure")
    assert len(ok(env.admin.get("floatingips"))["floatingips"]) == fips
    assert len(admin_ports(env, network_id=ext["id"])) == 1
    # a gateway moved to another network frees the address
    ok(env.a.put("routers/" + first["id"], {"router": {"external_gateway_info": {
        "network_id": env.public["id"]}}}))
    assert admin_ports(env, network_id=ext["id"]) == []
    f = env.fip(env.a, floating_network_id=ext["id"])
    assert f["floating_ip_address"] == "198.51.100.2"
    # an external network without IPv4 subnet has no floating IPs
    ext6 = env.net(env.admin, **{"router:external": True})
    env.subnet(env.admin, ext6, "fd00:" + uuid.uuid4().hex[:4] + "::/64")
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": ext6["id"]}}), 400,
         "BadRequest", "does not contain any IPv4 subnet")
    # and a router's gateway on an external network without subnets has no address
    bare = env.net(env.admin, **{"router:external": True})
    r2 = env.router(env.a, external_gateway_info={"network_id": bare["id"]})
    assert r2["external_gateway_info"] == {"network_id": bare["id"], "enable_snat": True,
                                           "external_fixed_ips": []}


def test_interface_by_subnet(env):
    net, sub = env.tenant(env.a, cidr24())
    rt = env.router(env.a)
    info = ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": sub["id"]}))
    assert set(info) >= {"subnet_id", "port_id", "id", "tenant_id", "project_id", "subnet_ids",
                         "network_id"}
    assert info["id"] == rt["id"] and info["subnet_id"] == sub["id"]
    assert info["subnet_ids"] == [sub["id"]] and info["network_id"] == net["id"]
    assert info["project_id"] == info["tenant_id"] == env.project_a
    port = ok(env.a.get("ports/" + info["port_id"]))["port"]
    assert port["device_id"] == rt["id"]
    assert port["device_owner"] == "network:router_interface"
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": sub["gateway_ip"]}]
    # the same subnet again
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": sub["id"]}), 400,
         "BadRequest", f"Router already has a port on subnet {sub['id']}")
    # an overlapping subnet on another network
    _, sub2 = env.tenant(env.a, sub["cidr"])
    n_ports = len(ok(env.a.get("ports"))["ports"])
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": sub2["id"]}), 400,
         "BadRequest", "overlaps with cidr")
    assert len(ok(env.a.get("ports"))["ports"]) == n_ports      # no port left behind
    # a subnet without gateway
    _, nogw = env.tenant(env.a, cidr24(), gateway_ip=None)
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": nogw["id"]}), 400,
         "BadRequest", "Subnet for router interface must have a gateway IP")
    # an unknown subnet
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface",
                   {"subnet_id": str(uuid.uuid4())}), 404, "SubnetNotFound")
    # the router is in use now
    nerr(env.a.delete("routers/" + rt["id"]), 409, "RouterInUse", info["port_id"])
    # the interface port cannot be deleted through the port API
    nerr(env.a.delete("ports/" + info["port_id"]), 409)
    # remove by subnet
    out = ok(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": sub["id"]}))
    assert out["port_id"] == info["port_id"] and out["subnet_id"] == sub["id"]
    assert out["subnet_ids"] == [sub["id"]] and out["id"] == rt["id"]
    nerr(env.a.get("ports/" + info["port_id"]), 404)
    nerr(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": sub["id"]}),
         404, "RouterInterfaceNotFoundForSubnet",
         f"Router {rt['id']} has no interface on subnet {sub['id']}")
    # now the overlapping one fits
    ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": sub2["id"]}))
    ok(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": sub2["id"]}))
    assert env.a.delete("routers/" + rt["id"]).status_code == 204


def test_interface_by_port(env):
    net, sub = env.tenant(env.a, cidr24())
    rt = env.router(env.a)
    p = env.port(env.a, net)
    info = ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"port_id": p["id"]}))
    assert info["port_id"] == p["id"] and info["subnet_id"] == sub["id"]
    assert info["subnet_ids"] == [sub["id"]] and info["network_id"] == net["id"]
    port = ok(env.a.get("ports/" + p["id"]))["port"]
    assert port["device_id"] == rt["id"]
    assert port["device_owner"] == "network:router_interface"
    assert port["fixed_ips"] == p["fixed_ips"]
    # a port in use by another device
    rt2 = env.router(env.a)
    nerr(env.a.put(f"routers/{rt2['id']}/add_router_interface", {"port_id": p["id"]}), 409,
         "PortInUse", "Port already has an attached device")
    used = env.port(env.a, net, device_id="some-vm", device_owner="compute:nova")
    nerr(env.a.put(f"routers/{rt2['id']}/add_router_interface", {"port_id": used["id"]}), 409,
         "PortInUse")
    # a port on the same subnet for the same router
    p2 = env.port(env.a, net)
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface", {"port_id": p2["id"]}), 400,
         "BadRequest", "Router already has a port on subnet")
    assert ok(env.a.get("ports/" + p2["id"]))["port"]["device_id"] == ""
    # a port without addresses
    bare_net = env.net(env.a)
    bare = env.port(env.a, bare_net)
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface", {"port_id": bare["id"]}), 400,
         "BadRequest", "Router port must have at least one fixed IP")
    # bad requests
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface", {}), 400, "BadRequest",
         "Either subnet_id or port_id must be specified")
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface"), 400, "BadRequest")
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface",
                   {"port_id": p["id"], "subnet_id": sub["id"]}), 400, "BadRequest",
         "Cannot specify both subnet-id and port-id")
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface", {"port_id": "xyz"}), 400,
         "BadRequest", "'xyz' is not a valid UUID")
    nerr(env.a.put(f"routers/{rt['id']}/add_router_interface",
                   {"port_id": str(uuid.uuid4())}), 404, "PortNotFound")
    nerr(env.a.put(f"routers/{str(uuid.uuid4())}/add_router_interface",
                   {"subnet_id": sub["id"]}), 404, "RouterNotFound")
    # remove: a port that is no interface of this router, a subnet mismatch
    nerr(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"port_id": p2["id"]}), 404,
         "RouterInterfaceNotFound",
         f"Router {rt['id']} does not have an interface with id {p2['id']}")
    _, other = env.tenant(env.a, cidr24())
    nerr(env.a.put(f"routers/{rt['id']}/remove_router_interface",
                   {"port_id": p["id"], "subnet_id": other["id"]}), 400,
         "SubnetMismatchForPort")
    out = ok(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"port_id": p["id"]}))
    assert out["port_id"] == p["id"] and out["subnet_ids"] == [sub["id"]]
    # removing a router interface deletes the port, as Neutron does
    nerr(env.a.get("ports/" + p["id"]), 404)


def test_multiple_interfaces_and_ipv6(env):
    rt = env.router(env.a)
    n1, s1 = env.tenant(env.a, cidr24())
    n2, s2 = env.tenant(env.a, cidr24())
    i1 = ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": s1["id"]}))
    i2 = ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": s2["id"]}))
    assert i1["port_id"] != i2["port_id"]
    # IPv6 subnets of one network share the router's port
    n6 = env.net(env.a)
    a6 = env.subnet(env.a, n6, "fd00:" + uuid.uuid4().hex[:4] + "::/64")
    b6 = env.subnet(env.a, n6, "fd00:" + uuid.uuid4().hex[:4] + "::/64")
    j1 = ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": a6["id"]}))
    j2 = ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": b6["id"]}))
    assert j1["port_id"] == j2["port_id"] and j2["subnet_ids"] == [b6["id"]]
    ips = {x["subnet_id"] for x in ok(env.a.get("ports/" + j1["port_id"]))["port"]["fixed_ips"]}
    assert ips == {a6["id"], b6["id"]}
    # removing one prefix keeps the port
    ok(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": a6["id"]}))
    port = ok(env.a.get("ports/" + j1["port_id"]))["port"]
    assert [x["subnet_id"] for x in port["fixed_ips"]] == [b6["id"]]
    ok(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": b6["id"]}))
    nerr(env.a.get("ports/" + j1["port_id"]), 404)
    for s in (s1, s2):
        ok(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": s["id"]}))
    assert env.a.delete("routers/" + rt["id"]).status_code == 204


def test_gateway_overlapping_interface(env):
    """The external subnets count as router subnets for the overlap check."""
    rt = env.router(env.admin)
    net = env.net(env.admin)
    sub = env.subnet(env.admin, net, "203.0.113.0/25")
    ok(env.admin.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": sub["id"]}))
    nerr(env.admin.put("routers/" + rt["id"], {"router": {"external_gateway_info": {
        "network_id": env.public["id"]}}}), 400, "BadRequest", "overlaps with cidr")
    assert admin_ports(env, network_id=env.public["id"], device_id=rt["id"]) == []
    ok(env.admin.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": sub["id"]}))


def test_other_projects(env):
    rt_a = env.router(env.a)
    net_a, sub_a = env.tenant(env.a, cidr24())
    port_a = env.port(env.a, net_a)
    rt_b = env.router(env.b)
    for call in (env.b.get("routers/" + rt_a["id"]),
                 env.b.put("routers/" + rt_a["id"], {"router": {"name": "mine"}}),
                 env.b.delete("routers/" + rt_a["id"]),
                 env.b.put(f"routers/{rt_a['id']}/add_router_interface",
                           {"subnet_id": sub_a["id"]})):
        nerr(call, 404)
    assert rt_a["id"] not in {x["id"] for x in ok(env.b.get("routers"))["routers"]}
    # b cannot plug a's subnet or port into its own router
    nerr(env.b.put(f"routers/{rt_b['id']}/add_router_interface", {"subnet_id": sub_a["id"]}),
         404, "SubnetNotFound")
    nerr(env.b.put(f"routers/{rt_b['id']}/add_router_interface", {"port_id": port_a["id"]}),
         404, "PortNotFound")
    # a shared network's subnet of another project cannot be plugged either
    shared = env.net(env.admin, shared=True)
    ssub = env.subnet(env.admin, shared, cidr24())
    nerr(env.b.put(f"routers/{rt_b['id']}/add_router_interface", {"subnet_id": ssub["id"]}),
         400, "BadRequest", "is not owned by project making the request")
    # the admin sees and changes everything
    ok(env.admin.get("routers/" + rt_a["id"]))
    assert rt_a["id"] in {x["id"] for x in ok(env.admin.get("routers"))["routers"]}
    info = ok(env.admin.put(f"routers/{rt_a['id']}/add_router_interface",
                            {"subnet_id": sub_a["id"]}))
    assert info["project_id"] == env.project_a
    ok(env.a.put(f"routers/{rt_a['id']}/remove_router_interface", {"subnet_id": sub_a["id"]}))
    # admins create routers for other projects
    rt = env.router(env.admin, project_id=env.project_b)
    assert rt["project_id"] == env.project_b
    ok(env.b.get("routers/" + rt["id"]))


# ---------------------------------------------------------------- routes

def test_routes(env):
    net, sub = env.tenant(env.a, cidr24())
    rt = env.router(env.a)
    ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": sub["id"]}))
    hosts = list(ipaddress.ip_network(sub["cidr"]).hosts())
    nh = str(hosts[4])
    routes = [{"destination": "172.31.1.0/24", "nexthop": nh},
              {"destination": "172.31.2.0/24", "nexthop": nh}]
    up = ok(env.a.put("routers/" + rt["id"], {"router": {"routes": routes}}))["router"]
    assert sorted(up["routes"], key=lambda x: x["destination"]) == routes
    assert ok(env.a.get("routers/" + rt["id"]))["router"]["routes"] == up["routes"]
    # nexthop not on the router, the router's own address, bad format, duplicates
    nerr(env.a.put("routers/" + rt["id"], {"router": {"routes": [
        {"destination": "172.31.3.0/24", "nexthop": "192.0.2.1"}]}}), 400, "InvalidRoutes",
        "the nexthop is not connected with router")
    nerr(env.a.put("routers/" + rt["id"], {"router": {"routes": [
        {"destination": "172.31.3.0/24", "nexthop": sub["gateway_ip"]}]}}), 400,
        "InvalidRoutes", "the nexthop is used by router")
    nerr(env.a.put("routers/" + rt["id"], {"router": {"routes": [
        {"destination": "bogus", "nexthop": nh}]}}), 400, None, "is not a valid IP subnet")
    nerr(env.a.put("routers/" + rt["id"], {"router": {"routes": [
        {"destination": "172.31.3.0/24"}]}}), 400, None, "Validation of dictionary's keys")
    nerr(env.a.put("routers/" + rt["id"], {"router": {"routes": [routes[0], routes[0]]}}),
         400, None, "Duplicate hostroute")
    # a failed update changed nothing
    assert len(ok(env.a.get("routers/" + rt["id"]))["router"]["routes"]) == 2
    # the interface carries routes: it stays
    nerr(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": sub["id"]}),
         409, "RouterInterfaceInUseByRoute")
    # extraroute-atomic
    extra = {"destination": "172.31.9.0/24", "nexthop": str(hosts[5])}
    got = ok(env.a.put(f"routers/{rt['id']}/add_extraroutes",
                       {"router": {"routes": [extra, routes[0]]}}))["router"]["routes"]
    assert len(got) == 3 and extra in got
    got = ok(env.a.put(f"routers/{rt['id']}/remove_extraroutes",
                       {"router": {"routes": [routes[0], routes[1],
                                              {"destination": "10.9.9.0/24",
                                               "nexthop": nh}]}}))["router"]["routes"]
    assert got == [extra]
    nerr(env.a.put(f"routers/{rt['id']}/add_extraroutes", {"router": {"routes": [
        {"destination": "172.31.4.0/24", "nexthop": "192.0.2.1"}]}}), 400, "InvalidRoutes")
    # null clears
    up = ok(env.a.put("routers/" + rt["id"], {"router": {"routes": None}}))["router"]
    assert up["routes"] == []
    ok(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": sub["id"]}))


# ---------------------------------------------------------------- floating IPs

@pytest.fixture(scope="module")
def fipnet(env):
    """Project a's network behind a router with a gateway on public, and a
    port on it."""
    class F:
        pass
    f = F()
    f.net, f.sub = env.tenant(env.a, cidr24())
    f.router = env.router(env.a, external_gateway_info={"network_id": env.public["id"]})
    ok(env.a.put(f"routers/{f.router['id']}/add_router_interface", {"subnet_id": f.sub["id"]}))
    f.ports = [env.port(env.a, f.net) for _ in range(2)]
    return f


def fip_ports(env, fip_id):
    return admin_ports(env, device_id=fip_id, device_owner="network:floatingip")


def test_floatingip_crud(env, fipnet):
    f = env.fip(env.a, description="one")
    assert f["status"] == "DOWN" and f["port_id"] is None and f["router_id"] is None
    assert f["fixed_ip_address"] is None and f["port_details"] is None
    assert f["floating_network_id"] == env.public["id"] and in_public(f["floating_ip_address"])
    assert f["project_id"] == f["tenant_id"] == env.project_a and f["description"] == "one"
    assert "floating_port_id" not in f
    fp = fip_ports(env, f["id"])
    assert len(fp) == 1 and fp[0]["fixed_ips"][0]["ip_address"] == f["floating_ip_address"]
    assert fp[0]["project_id"] == "" and fp[0]["network_id"] == env.public["id"]
    assert fp[0]["id"] not in {p["id"] for p in ok(env.a.get("ports"))["ports"]}
    # associate
    p0 = fipnet.ports[0]
    up = ok(env.a.put("floatingips/" + f["id"], {"floatingip": {"port_id": p0["id"]}}))
    up = up["floatingip"]
    assert up["port_id"] == p0["id"] and up["router_id"] == fipnet.router["id"]
    assert up["fixed_ip_address"] == p0["fixed_ips"][0]["ip_address"]
    assert up["status"] == "ACTIVE"
    assert up["port_details"]["network_id"] == fipnet.net["id"]
    assert up["port_details"]["mac_address"] == p0["mac_address"]
    shown = ok(env.a.get("floatingips/" + f["id"]))["floatingip"]
    assert shown["port_id"] == p0["id"] and shown["floating_ip_address"] == f[
        "floating_ip_address"]
    # an update without port_id keeps the association
    up = ok(env.a.put("floatingips/" + f["id"], {"floatingip": {"description": "two"}}))
    assert up["floatingip"]["port_id"] == p0["id"] and up["floatingip"]["description"] == "two"
    # move to the other port
    p1 = fipnet.ports[1]
    up = ok(env.a.put("floatingips/" + f["id"], {"floatingip": {"port_id": p1["id"]}}))
    assert up["floatingip"]["fixed_ip_address"] == p1["fixed_ips"][0]["ip_address"]
    # disassociate
    up = ok(env.a.put("floatingips/" + f["id"], {"floatingip": {"port_id": None}}))
    up = up["floatingip"]
    assert up["port_id"] is None and up["fixed_ip_address"] is None
    assert up["router_id"] is None and up["status"] == "DOWN"
    # delete: the address and its port go
    assert env.a.delete("floatingips/" + f["id"]).status_code == 204
    nerr(env.a.get("floatingips/" + f["id"]), 404, "FloatingIPNotFound",
         f"Floating IP {f['id']} could not be found")
    nerr(env.a.delete("floatingips/" + f["id"]), 404, "FloatingIPNotFound")
    assert fip_ports(env, f["id"]) == []


def test_floatingip_create_associated(env, fipnet):
    p = fipnet.ports[0]
    ip = p["fixed_ips"][0]["ip_address"]
    f = env.fip(env.a, port_id=p["id"], fixed_ip_address=ip)
    assert f["status"] == "ACTIVE" and f["router_id"] == fipnet.router["id"]
    assert f["fixed_ip_address"] == ip
    # one floating IP per fixed IP
    before = len(ok(env.a.get("floatingips"))["floatingips"])
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "port_id": p["id"]}}), 409,
         "FloatingIPPortAlreadyAssociated", f"with port {p['id']} using fixed IP {ip}")
    assert len(ok(env.a.get("floatingips"))["floatingips"]) == before
    g = env.fip(env.a)
    nerr(env.a.put("floatingips/" + g["id"], {"floatingip": {"port_id": p["id"]}}), 409,
         "FloatingIPPortAlreadyAssociated")
    assert ok(env.a.get("floatingips/" + g["id"]))["floatingip"]["port_id"] is None
    # the interface and the gateway are in use now
    nerr(env.a.put(f"routers/{fipnet.router['id']}/remove_router_interface",
                   {"subnet_id": fipnet.sub["id"]}), 409, "RouterInterfaceInUseByFloatingIP")
    nerr(env.a.put("routers/" + fipnet.router["id"], {"router": {"external_gateway_info": {}}}),
         409, "RouterExternalGatewayInUseByFloatingIp")
    assert ok(env.a.get("routers/" + fipnet.router["id"]))["router"][
        "external_gateway_info"]["network_id"] == env.public["id"]
    ok(env.a.put("floatingips/" + f["id"], {"floatingip": {"port_id": None}}))


def test_floatingip_multiple_fixed_ips(env, fipnet):
    hosts = list(ipaddress.ip_network(fipnet.sub["cidr"]).hosts())
    ips = [str(hosts[60]), str(hosts[61])]
    p = env.port(env.a, fipnet.net, fixed_ips=[{"ip_address": x} for x in ips])
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "port_id": p["id"]}}), 400, "BadRequest",
         "has multiple fixed IPv4 addresses")
    f = env.fip(env.a, port_id=p["id"], fixed_ip_address=ips[0])
    assert f["fixed_ip_address"] == ips[0]
    up = ok(env.a.put("floatingips/" + f["id"], {"floatingip": {
        "port_id": p["id"], "fixed_ip_address": ips[1]}}))["floatingip"]
    assert up["fixed_ip_address"] == ips[1]
    nerr(env.a.put("floatingips/" + f["id"], {"floatingip": {
        "port_id": p["id"], "fixed_ip_address": str(hosts[70])}}), 400, "BadRequest",
        "does not have fixed ip")
    nerr(env.a.put("floatingips/" + f["id"], {"floatingip": {"fixed_ip_address": ips[0]}}),
         400, "BadRequest", "fixed_ip_address cannot be specified without a port_id")
    # deleting the port disassociates the floating IP
    assert env.a.delete("ports/" + p["id"]).status_code == 204
    shown = ok(env.a.get("floatingips/" + f["id"]))["floatingip"]
    assert shown["port_id"] is None and shown["fixed_ip_address"] is None
    assert shown["router_id"] is None


def test_floatingip_errors(env, fipnet):
    count = len(ok(env.admin.get("floatingips"))["floatingips"])
    pub_ports = len(admin_ports(env, network_id=env.public["id"]))
    # unreachable: a router without gateway
    net, sub = env.tenant(env.a, cidr24())
    rt = env.router(env.a)
    ok(env.a.put(f"routers/{rt['id']}/add_router_interface", {"subnet_id": sub["id"]}))
    port = env.port(env.a, net)
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "port_id": port["id"]}}), 404,
         "ExternalGatewayForFloatingIPNotFound",
         f"External network {env.public['id']} is not reachable from subnet {sub['id']}")
    # unreachable: no router at all
    net2, _ = env.tenant(env.a, cidr24())
    port2 = env.port(env.a, net2)
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "port_id": port2["id"]}}), 404,
         "ExternalGatewayForFloatingIPNotFound")
    # not an external network, missing network, bad bodies
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": net["id"]}}), 400,
         "BadRequest", f"Network {net['id']} is not a valid external network")
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": str(uuid.uuid4())}}),
         404, "NetworkNotFound")
    nerr(env.a.post("floatingips", {"floatingip": {}}), 400, None,
         "Required attribute 'floating_network_id' not specified")
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": "x"}}), 400)
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "port_id": "x"}}), 400)
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "router_id": rt["id"]}}), 400, None,
         "Attribute 'router_id' not allowed in POST")
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "port_id": str(uuid.uuid4())}}), 404,
         "PortNotFound")
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "fixed_ip_address": "10.0.0.1"}}), 400,
         "BadRequest", "fixed_ip_address cannot be specified without a port_id")
    # an IPv6 fixed address
    nerr(env.a.post("floatingips", {"floatingip": {
        "floating_network_id": env.public["id"], "port_id": fipnet.ports[0]["id"],
        "fixed_ip_address": "fd00::5"}}), 400, "BadRequest", "not an IPv4 address")
    # a DHCP port cannot have one
    dhcp = env.port(env.admin, fipnet.net, device_owner="network:dhcp")
    nerr(env.admin.post("floatingips", {"floatingip": {
        "floating_network_id": env.public["id"], "port_id": dhcp["id"]}}), 400, "BadRequest",
        "is unable to be assigned a floating IP")
    # only admins choose the address
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "floating_ip_address": "203.0.113.77"}}),
         403, "PolicyNotAuthorized")
    nerr(env.admin.post("floatingips", {"floatingip": {
        "floating_network_id": env.public["id"], "floating_ip_address": "198.18.1.1"}}), 400)
    # nothing was left behind
    assert len(ok(env.admin.get("floatingips"))["floatingips"]) == count
    assert len(admin_ports(env, network_id=env.public["id"])) == pub_ports
    # the admin's chosen address, then the same address again
    f = env.fip(env.admin, floating_ip_address="203.0.113.77")
    assert f["floating_ip_address"] == "203.0.113.77"
    nerr(env.admin.post("floatingips", {"floatingip": {
        "floating_network_id": env.public["id"], "floating_ip_address": "203.0.113.77"}}), 409)
    g = env.fip(env.admin, subnet_id=env.public_subnet["id"])
    assert in_public(g["floating_ip_address"])
    ok(env.a.put(f"routers/{rt['id']}/remove_router_interface", {"subnet_id": sub["id"]}))


def test_floatingip_other_projects(env, fipnet):
    fa = env.fip(env.a)
    fb = env.fip(env.b)
    for call in (env.b.get("floatingips/" + fa["id"]),
                 env.b.put("floatingips/" + fa["id"], {"floatingip": {"port_id": None}}),
                 env.b.delete("floatingips/" + fa["id"])):
        nerr(call, 404, "FloatingIPNotFound")
    ids_b = {x["id"] for x in ok(env.b.get("floatingips"))["floatingips"]}
    assert fb["id"] in ids_b and fa["id"] not in ids_b
    ids_admin = {x["id"] for x in ok(env.admin.get("floatingips"))["floatingips"]}
    assert {fa["id"], fb["id"]} <= ids_admin
    # b cannot point its floating IP at a's port
    nerr(env.b.put("floatingips/" + fb["id"], {"floatingip": {
        "port_id": fipnet.ports[0]["id"]}}), 404, "PortNotFound")
    # an admin's floating IP for project a, on a's port
    f = env.fip(env.admin, project_id=env.project_a, port_id=fipnet.ports[1]["id"])
    assert f["project_id"] == env.project_a and f["router_id"] == fipnet.router["id"]
    ok(env.admin.put("floatingips/" + f["id"], {"floatingip": {"port_id": None}}))
    # non-admins name no other project
    nerr(env.a.post("floatingips", {"floatingip": {"floating_network_id": env.public["id"],
                                                   "project_id": env.project_b}}), 403)


def test_external_network_delete_takes_free_floatingips(env):
    ext = ok(env.admin.post("networks", {"network": {"name": "l3-gone",
                                                     "router:external": True}}), 201)["network"]
    ok(env.admin.post("subnets", {"subnet": {"network_id": ext["id"], "cidr": "192.0.2.0/28",
                                             "ip_version": 4, "enable_dhcp": False}}), 201)
    f = ok(env.a.post("floatingips", {"floatingip": {"floating_network_id": ext["id"]}}),
           201)["floatingip"]
    assert env.admin.delete("networks/" + ext["id"]).status_code == 204
    nerr(env.a.get("floatingips/" + f["id"]), 404, "FloatingIPNotFound")
    assert fip_ports(env, f["id"]) == []


def test_floatingip_filters_and_pools(env, fipnet):
    p = fipnet.ports[0]
    f = env.fip(env.a, port_id=p["id"])
    g = env.fip(env.a)
    got = ok(env.a.get("floatingips", params={"port_id": p["id"]}))["floatingips"]
    assert [x["id"] for x in got] == [f["id"]]
    got = ok(env.a.get("floatingips", params={"status": "DOWN"}))["floatingips"]
    assert g["id"] in {x["id"] for x in got} and f["id"] not in {x["id"] for x in got}
    got = ok(env.a.get("floatingips", params={"router_id": fipnet.router["id"]}))
    assert f["id"] in {x["id"] for x in got["floatingips"]}
    got = ok(env.a.get("floatingips", params={
        "floating_ip_address": g["floating_ip_address"], "fields": ["id", "status"]}))
    assert got["floatingips"] == [{"id": g["id"], "status": "DOWN"}]
    got = ok(env.a.get("floatingips", params={"sort_key": "floating_ip_address",
                                              "sort_dir": "asc"}))["floatingips"]
    addrs = [ipaddress.ip_address(x["floating_ip_address"]) for x in got]
    assert len(addrs) >= 2
    pools = ok(env.a.get("floatingip_pools"))["floatingip_pools"]
    mine = [x for x in pools if x["network_id"] == env.public["id"]]
    assert mine == [{"subnet_id": env.public_subnet["id"],
                     "subnet_name": env.public_subnet["name"],
                     "network_id": env.public["id"], "project_id": env.public["project_id"],
                     "tenant_id": env.public["project_id"], "cidr": PUBLIC_CIDR}]
    ok(env.a.put("floatingips/" + f["id"], {"floatingip": {"port_id": None}}))


def test_quota(env, kumo):
    routers = len(ok(env.b.get("routers"))["routers"])
    fips = len(ok(env.b.get("floatingips"))["floatingips"])
    r = env.admin.put("quotas/" + env.project_b, {"quota": {"router": routers + 1,
                                                            "floatingip": fips + 1}})
    if r.status_code == 404:
        pytest.skip("quotas API not available")
    ok(r)
    try:
        env.router(env.b)
        nerr(env.b.post("routers", {"router": {"name": "too-many"}}), 409, "OverQuota",
             "Quota exceeded for resources: ['router']")
        env.fip(env.b)
        nerr(env.b.post("floatingips", {"floatingip": {
            "floating_network_id": env.public["id"]}}), 409, "OverQuota",
            "Quota exceeded for resources: ['floatingip']")
        assert len(ok(env.b.get("floatingips"))["floatingips"]) == fips + 1
    finally:
        env.admin.delete("quotas/" + env.project_b)


# ---------------------------------------------------------------- real clients

def cli_env(kumo, env, user=None, project=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    e.update({
        "OS_AUTH_URL": kumo.url + "/v3", "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user or kumo.admin_user,
        "OS_PASSWORD": env.pw if user else kumo.admin_password,
        "OS_PROJECT_NAME": project or kumo.admin_project,
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": kumo.region, "HOME": str(kumo.dir), "PATH": "/usr/bin:/bin",
    })
    return e


def run(args, env, ok_=True):
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    if ok_:
        assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return r


def osc(e, *args):
    out = run(["/usr/bin/openstack", *args, "-f", "json"], e).stdout
    return json.loads(out) if out.strip() else None


@pytest.mark.skipif(not os.path.exists("/usr/bin/openstack"), reason="no openstack CLI")
def test_openstack_cli(kumo, env):
    e = cli_env(kumo, env, env.user_a, env.pname_a)
    tag = uuid.uuid4().hex[:6]
    net = osc(e, "network", "create", f"cli-net-{tag}")
    cidr = cidr24()
    sub = osc(e, "subnet", "create", f"cli-sub-{tag}", "--network", net["id"],
              "--subnet-range", cidr)
    rt = osc(e, "router", "create", f"cli-r-{tag}")
    assert rt["name"] == f"cli-r-{tag}" and rt["status"] == "ACTIVE"
    try:
        run(["/usr/bin/openstack", "router", "set", "--external-gateway", env.public["id"],
             rt["id"]], e)
        shown = osc(e, "router", "show", rt["id"])
        gw = shown["external_gateway_info"]
        if isinstance(gw, str):
            gw = json.loads(gw)
        assert gw["network_id"] == env.public["id"]
        run(["/usr/bin/openstack", "router", "add", "subnet", rt["id"], sub["id"]], e)
        ports = osc(e, "port", "list", "--router", rt["id"])
        assert [p["Fixed IP Addresses"] for p in ports] and len(ports) == 1
        port = osc(e, "port", "create", "--network", net["id"], f"cli-p-{tag}")
        fip = osc(e, "floating", "ip", "create", env.public["id"])
        assert in_public(fip["floating_ip_address"])
        run(["/usr/bin/openstack", "floating", "ip", "set", "--port", port["id"], fip["id"]], e)
        shown = osc(e, "floating", "ip", "show", fip["id"])
        assert shown["port_id"] == port["id"] and shown["router_id"] == rt["id"]
        listed = osc(e, "floating", "ip", "list")
        assert fip["id"] in {x["ID"] for x in listed}
        run(["/usr/bin/openstack", "floating", "ip", "unset", "--port", fip["id"]], e)
        assert osc(e, "floating", "ip", "show", fip["id"])["port_id"] is None
        run(["/usr/bin/openstack", "floating", "ip", "delete", fip["id"]], e)
        r = run(["/usr/bin/openstack", "router", "delete", rt["id"]], e, ok_=False)
        assert r.returncode != 0      # still has an interface
        run(["/usr/bin/openstack", "router", "remove", "subnet", rt["id"], sub["id"]], e)
        run(["/usr/bin/openstack", "router", "unset", "--external-gateway", rt["id"]], e)
        assert osc(e, "router", "show", rt["id"])["external_gateway_info"] in (None, "", "null")
        run(["/usr/bin/openstack", "router", "delete", rt["id"]], e)
        run(["/usr/bin/openstack", "port", "delete", port["id"]], e)
    finally:
        teardown_router(env.admin, env.admin, rt["id"])
        env.admin.delete("subnets/" + sub["id"])
        env.admin.delete("networks/" + net["id"])


@pytest.mark.skipif(not os.path.exists("/usr/bin/neutron"), reason="no neutron CLI")
def test_neutron_cli(kumo, env):
    e = cli_env(kumo, env, env.user_b, env.pname_b)
    tag = uuid.uuid4().hex[:6]
    r = run(["/usr/bin/neutron", "router-create", f"ncli-r-{tag}", "-f", "json"], e)
    rt = json.loads(r.stdout)
    try:
        assert rt["name"] == f"ncli-r-{tag}" and rt["status"] == "ACTIVE"
        r = run(["/usr/bin/neutron", "floatingip-create", env.public["id"], "-f", "json"], e)
        fip = json.loads(r.stdout)
        assert in_public(fip["floating_ip_address"]) and fip["status"] == "DOWN"
        r = run(["/usr/bin/neutron", "router-list", "-f", "json"], e)
        assert rt["id"] in {x["id"] for x in json.loads(r.stdout)}
        r = run(["/usr/bin/neutron", "floatingip-list", "-f", "json"], e)
        assert fip["id"] in {x["id"] for x in json.loads(r.stdout)}
        run(["/usr/bin/neutron", "floatingip-delete", fip["id"]], e)
        run(["/usr/bin/neutron", "router-delete", rt["id"]], e)
    finally:
        env.admin.delete("routers/" + rt["id"])
