"""Ports and agents of the Network API (Neutron v2.0), against the session
kumo of conftest.py (agents off).

Covers port CRUD with fixed IPs (default, by subnet, by address, updates,
release on delete), MACs, the binding extension, allowed address pairs,
port security and security groups on ports, filters, visibility and policy
between projects, Neutron's errors for bad input with nothing half-made
(taken or foreign addresses, exhausted pools, bulk requests), the
/v2.0/agents API on rows the agents would write, and the real `openstack
port ...` and `neutron agent-list` commands.
"""

import json
import re
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from netapi import NEUTRON, Env, err, ok, openstack_cli

MAC = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")
BRIDGE_DETAILS = {"port_filter": True, "connectivity": "l2"}


@pytest.fixture(scope="module")
def env(kumo, admin):
    return Env(kumo, admin, "port")


def mk_port(api, net, **kw):
    body = {"network_id": net["id"]}
    body.update(kw)
    return ok(api.post("ports", {"port": body}), 201)["port"]


def ports_on(api, net):
    return ok(api.get("ports", params={"network_id": net["id"]}))["ports"]


def mk_net(api, cidr, pools=None, **net):
    body = {"name": "n-" + uuid.uuid4().hex[:8]}
    body.update(net)
    n = ok(api.post("networks", {"network": body}), 201)["network"]
    sub = {"network_id": n["id"], "ip_version": 4, "cidr": cidr}
    if pools:
        sub["allocation_pools"] = pools
    n["subnet"] = ok(api.post("subnets", {"subnet": sub}), 201)["subnet"]
    return n


# ---------------------------------------------------------------- create / show

def test_create_defaults(env):
    net = env.network(env.a, "10.31.0.0/24")
    p = mk_port(env.a, net, name="p1")
    assert p["name"] == "p1" and p["network_id"] == net["id"]
    assert p["project_id"] == p["tenant_id"] == env.project_a
    assert MAC.match(p["mac_address"]), p["mac_address"]
    assert p["status"] == "DOWN" and p["admin_state_up"] is True
    assert p["device_id"] == "" and p["device_owner"] == "" and p["description"] == ""
    assert p["port_security_enabled"] is True
    assert p["security_groups"] == [env.default_group(env.a)["id"]]
    assert p["allowed_address_pairs"] == [] and p["tags"] == []
    assert len(p["fixed_ips"]) == 1
    assert p["fixed_ips"][0]["subnet_id"] == net["subnet"]["id"]
    assert p["fixed_ips"][0]["ip_address"].startswith("10.31.0.")
    assert p["fixed_ips"][0]["ip_address"] != net["subnet"]["gateway_ip"]
    assert p["created_at"].endswith("Z") and p["revision_number"] >= 1
    # a member does not see the binding details (but the vnic type); an admin does
    assert [k for k in p if k.startswith("binding:")] == ["binding:vnic_type"]
    a = ok(env.admin.get(f"ports/{p['id']}"))["port"]
    assert a["binding:host_id"] == "" and a["binding:vif_type"] == "unbound"
    assert a["binding:vif_details"] == {} and a["binding:vnic_type"] == "normal"
    assert a["binding:profile"] == {}
    shown = ok(env.a.get(f"ports/{p['id']}"))["port"]
    assert shown == p
    f = ok(env.a.get(f"ports/{p['id']}", params={"fields": ["id", "fixed_ips"]}))["port"]
    assert set(f) == {"id", "fixed_ips"}
    # MACs differ
    p2 = mk_port(env.a, net)
    assert p2["mac_address"] != p["mac_address"]
    assert p2["fixed_ips"][0]["ip_address"] != p["fixed_ips"][0]["ip_address"]


def test_create_everything(env):
    net = env.network(env.a, "10.32.0.0/24")
    g = ok(env.a.post("security-groups", {"security_group": {"name": "pg"}}),
           201)["security_group"]
    p = mk_port(env.a, net, name="full", description="d", admin_state_up=False,
                mac_address="FA:16:3E:12:34:56", device_id="vm-1", device_owner="compute:nova",
                fixed_ips=[{"subnet_id": net["subnet"]["id"], "ip_address": "10.32.0.50"}],
                security_groups=[g["id"]],
                allowed_address_pairs=[{"ip_address": "10.32.0.200"},
                                       {"ip_address": "10.99.0.0/24",
                                        "mac_address": "fa:16:3e:00:00:01"}])
    assert p["mac_address"] == "fa:16:3e:12:34:56"
    assert p["admin_state_up"] is False and p["description"] == "d"
    assert p["device_id"] == "vm-1" and p["device_owner"] == "compute:nova"
    assert p["fixed_ips"] == [{"subnet_id": net["subnet"]["id"], "ip_address": "10.32.0.50"}]
    assert p["security_groups"] == [g["id"]]
    assert sorted(p["allowed_address_pairs"], key=lambda x: x["ip_address"]) == [
        {"ip_address": "10.32.0.200", "mac_address": "fa:16:3e:12:34:56"},
        {"ip_address": "10.99.0.0/24", "mac_address": "fa:16:3e:00:00:01"}]


def test_create_on_network_without_subnet_and_unaddressed(env):
    n = ok(env.a.post("networks", {"network": {"name": "bare"}}), 201)["network"]
    p = mk_port(env.a, n)
    assert p["fixed_ips"] == []
    e = err(env.a.post("ports", {"port": {"network_id": n["id"], "fixed_ips": [
        {"ip_address": "10.0.0.5"}]}}), 400)
    assert "IP allocation requires subnets for network" in e["message"]
    net = env.network(env.a, "10.33.0.0/24")
    p = mk_port(env.a, net, fixed_ips=[])
    assert p["fixed_ips"] == []


def test_second_subnet_and_update_fixed_ips(env):
    net = mk_net(env.a, "10.34.0.0/24")
    s2 = ok(env.a.post("subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                              "cidr": "10.35.0.0/24"}}), 201)["subnet"]
    s1 = net["subnet"]
    # default: one IPv4 address only (Neutron's default)
    p = mk_port(env.a, net)
    assert len(p["fixed_ips"]) == 1
    both = mk_port(env.a, net, fixed_ips=[{"subnet_id": s1["id"]}, {"subnet_id": s2["id"]}])
    assert sorted(f["subnet_id"] for f in both["fixed_ips"]) == sorted([s1["id"], s2["id"]])
    old = {f["subnet_id"]: f["ip_address"] for f in both["fixed_ips"]}
    one = ok(env.a.put(f"ports/{both['id']}", {"port": {"fixed_ips": [
        {"subnet_id": s1["id"]}]}}))["port"]
    assert one["fixed_ips"] == [{"subnet_id": s1["id"], "ip_address": old[s1["id"]]}]
    assert one["revision_number"] > both["revision_number"]
    # the released address can be taken by another port
    taker = mk_port(env.a, net, fixed_ips=[{"ip_address": old[s2["id"]]}])
    assert taker["fixed_ips"][0]["subnet_id"] == s2["id"]
    # a specific new address, then back to two subnets
    moved = ok(env.a.put(f"ports/{both['id']}", {"port": {"fixed_ips": [
        {"subnet_id": s1["id"], "ip_address": "10.34.0.77"}]}}))["port"]
    assert moved["fixed_ips"] == [{"subnet_id": s1["id"], "ip_address": "10.34.0.77"}]
    two = ok(env.a.put(f"ports/{both['id']}", {"port": {"fixed_ips": [
        {"subnet_id": s1["id"], "ip_address": "10.34.0.77"},
        {"subnet_id": s2["id"]}]}}))["port"]
    assert len(two["fixed_ips"]) == 2
    # a taken address: 409 and the port keeps what it had
    e = err(env.a.put(f"ports/{both['id']}", {"port": {"fixed_ips": [
        {"ip_address": p["fixed_ips"][0]["ip_address"]}]}}), 409)
    assert e["type"] == "IpAddressAlreadyAllocated"
    assert ok(env.a.get(f"ports/{both['id']}"))["port"]["fixed_ips"] == two["fixed_ips"]


def test_fixed_ip_errors(env):
    net = env.network(env.a, "10.36.0.0/24")
    other = env.network(env.a, "10.37.0.0/24")
    taken = mk_port(env.a, net, fixed_ips=[{"ip_address": "10.36.0.10"}])
    before = len(ports_on(env.a, net))
    sid = net["subnet"]["id"]
    cases = [
        ([{"ip_address": "10.36.0.10"}], 409, "IpAddressAlreadyAllocated",
         f"IP address 10.36.0.10 already allocated in subnet {sid}"),
        ([{"subnet_id": sid, "ip_address": "10.99.0.5"}], 400, "InvalidIpForSubnet",
         "IP address 10.99.0.5 is not a valid IP for the specified subnet."),
        ([{"ip_address": "10.99.0.5"}], 400, "InvalidIpForNetwork", None),
        ([{"subnet_id": other["subnet"]["id"]}], 400, "InvalidInput",
         f"because fixed_ips included invalid subnet {other['subnet']['id']}"),
        ([{"subnet_id": str(uuid.uuid4())}], 404, "SubnetNotFound", None),
        ([{"ip_address": "not-an-ip"}], 400, None,
         "Invalid input for fixed_ips. Reason: 'not-an-ip' is not a valid IP address."),
        ([{"ip_address": "10.36.0.20"}, {"ip_address": "10.36.0.20"}], 400, None,
         "Duplicate IP address '10.36.0.20'"),
        ([{"subnet_id": "nope"}], 400, None, "'nope' is not a valid UUID"),
        ("10.36.0.5", 400, None, "Invalid data format for fixed IP"),
        (["10.36.0.5"], 400, None, "Invalid data format for fixed IP"),
        ([{}], 400, "InvalidInput", "IP allocation requires subnet_id or ip_address"),
        # the second entry fails after the first was allocated: nothing is kept
        ([{"ip_address": "10.36.0.30"}, {"ip_address": "10.36.0.10"}], 409,
         "IpAddressAlreadyAllocated", None),
    ]
    for fixed, code, typ, text in cases:
        e = err(env.a.post("ports", {"port": {"network_id": net["id"], "fixed_ips": fixed}}),
                code)
        if typ:
            assert e["type"] == typ, (fixed, e)
        if text:
            assert text in e["message"], (fixed, e)
    assert len(ports_on(env.a, net)) == before
    # 10.36.0.30 was not kept by the failed request
    mk_port(env.a, net, fixed_ips=[{"ip_address": "10.36.0.30"}])
    # outside the pools is fine when asked for, the gateway address included (as Neutron)
    gw = mk_port(env.a, net, fixed_ips=[{"ip_address": net["subnet"]["gateway_ip"]}])
    assert gw["fixed_ips"][0]["ip_address"] == "10.36.0.1" and taken["id"]
    # the network and broadcast addresses are not
    for bad in ("10.36.0.0", "10.36.0.255"):
        e = err(env.a.post("ports", {"port": {"network_id": net["id"], "fixed_ips": [
            {"subnet_id": sid, "ip_address": bad}]}}), 400)
        assert e["type"] == "InvalidIpForSubnet"


def test_exhausted_pool(env):
    net = mk_net(env.a, "10.38.0.0/29", pools=[{"start": "10.38.0.2", "end": "10.38.0.3"}])
    got = {mk_port(env.a, net)["fixed_ips"][0]["ip_address"] for _ in range(2)}
    assert got == {"10.38.0.2", "10.38.0.3"}
    e = err(env.a.post("ports", {"port": {"network_id": net["id"]}}), 409)
    assert e["type"] == "IpAddressGenerationFailure"
    assert e["message"] == f"No more IP addresses available on network {net['id']}."
    e = err(env.a.post("ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": net["subnet"]["id"]}]}}), 409)
    assert e["type"] == "IpAddressGenerationFailure"
    assert len(ports_on(env.a, net)) == 2
    # a bulk request where the second port finds no address creates nothing
    p = ports_on(env.a, net)[0]
    assert env.a.delete(f"ports/{p['id']}").status_code == 204
    e = err(env.a.post("ports", {"ports": [{"network_id": net["id"]},
                                           {"network_id": net["id"]}]}), 409)
    assert len(ports_on(env.a, net)) == 1
    # and the freed address is available again
    assert mk_port(env.a, net)["fixed_ips"][0]["ip_address"] == p["fixed_ips"][0]["ip_address"]


def test_bulk_create(env):
    net = env.network(env.a, "10.39.0.0/24")
    out = ok(env.a.post("ports", {"ports": [{"network_id": net["id"], "name": "b1"},
                                            {"network_id": net["id"], "name": "b2"}]}),
             201)["ports"]
    assert [p["name"] for p in out] == ["b1", "b2"]
    before = len(ports_on(env.a, net))
    err(env.a.post("ports", {"ports": [{"network_id": net["id"], "name": "ok"},
                                       {"network_id": net["id"], "bogus": 1}]}), 400)
    err(env.a.post("ports", {"ports": [{"network_id": net["id"], "name": "ok"},
                                       {"network_id": str(uuid.uuid4())}]}), 404)
    assert len(ports_on(env.a, net)) == before


def test_malformed_bodies(env):
    net = env.network(env.a, "10.40.0.0/24")
    cases = [
        ({"port": {}}, 400, "Failed to parse request. Required attribute 'network_id' not "
         "specified"),
        ({"port": {"network_id": "abc"}}, 400,
         "Invalid input for network_id. Reason: 'abc' is not a valid UUID."),
        ({"port": {"network_id": net["id"], "bogus": 1}}, 400,
         "Unrecognized attribute(s) 'bogus'"),
        ({"port": {"network_id": net["id"], "status": "ACTIVE"}}, 400,
         "Attribute 'status' not allowed in POST"),
        ({"port": {"network_id": net["id"], "admin_state_up": "perhaps"}}, 400, None),
        ({"port": {"network_id": net["id"], "name": ["x"]}}, 400, "Invalid input for name"),
        ({"port": {"network_id": net["id"], "mac_address": "zz"}}, 400,
         "Invalid input for mac_address. Reason: 'zz' is not a valid MAC address."),
        ({"port": {"network_id": net["id"], "mac_address": "ff:ff:ff:ff:ff:ff"}}, 400, None),
        ({"port": {"network_id": net["id"], "security_groups": "abc"}}, 400,
         "Invalid input for security_groups"),
        ({"port": {"network_id": net["id"], "security_groups": ["abc"]}}, 400,
         "'abc' is not a valid UUID"),
        ({"port": {"network_id": net["id"], "allowed_address_pairs": "x"}}, 400,
         "Allowed address pairs must be a list."),
        ({"port": {"network_id": net["id"], "allowed_address_pairs": [{"mac_address":
                                                                         "fa:16:3e:00:00:02"}]}},
         400, "AllowedAddressPair must contain ip_address"),
        ({"port": {"network_id": net["id"], "allowed_address_pairs": [
            {"ip_address": "10.0.0.1"}, {"ip_address": "10.0.0.1"}]}}, 400,
         "Request contains duplicate address pair"),
        ({"port": {"network_id": net["id"], "allowed_address_pairs": [
            {"ip_address": "300.0.0.1"}]}}, 400, "'300.0.0.1' is not a valid IP address"),
        ({"port": {"network_id": net["id"], "allowed_address_pairs": [
            {"ip_address": "224.0.0.5"}]}}, 400, "multicast"),
        ({"port": {"network_id": net["id"], "allowed_address_pairs": [
            {"ip_address": f"10.0.0.{i}"} for i in range(11)]}}, 400,
         "The number of allowed address pair exceeds the maximum 10."),
        ({"port": {"network_id": net["id"], "binding:vnic_type": "fancy"}}, 403, None),
        ({"port": "x"}, 400, None),
        ({"ports": []}, 400, None),
        ({}, 400, "Unable to find 'port' in request body"),
    ]
    before = len(ports_on(env.a, net))
    for body, code, text in cases:
        r = env.a.post("ports", body)
        if code == 403 and r.status_code == 400:
            code = 400       # vnic_type: validation may come before policy
        e = err(r, code)
        if text:
            assert text in e["message"], (body, e)
    r = env.a.post("ports", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = env.a.post("ports", data="", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert len(ports_on(env.a, net)) == before


def test_mac_addresses(env):
    net = env.network(env.a, "10.41.0.0/24")
    p = mk_port(env.a, net, mac_address="fa:16:3e:aa:bb:01")
    e = err(env.a.post("ports", {"port": {"network_id": net["id"],
                                          "mac_address": "FA:16:3E:AA:BB:01"}}), 409)
    assert e["type"] == "MacAddressInUse"
    assert e["message"] == (f"Unable to complete operation for network {net['id']}. "
                            "The mac address fa:16:3e:aa:bb:01 is in use.")
    # netaddr's other spellings are accepted and sanitized
    q = mk_port(env.a, net, mac_address="FA-16-3E-AA-BB-09")
    assert q["mac_address"] == "fa:16:3e:aa:bb:09"
    q = mk_port(env.a, net, mac_address="fa16.3eaa.bb0a")
    assert q["mac_address"] == "fa:16:3e:aa:bb:0a"
    # another network may use it
    other = env.network(env.a, "10.42.0.0/24")
    mk_port(env.a, other, mac_address="fa:16:3e:aa:bb:01")
    # a member may not change a MAC; an admin may while the port is unbound
    err(env.a.put(f"ports/{p['id']}", {"port": {"mac_address": "fa:16:3e:aa:bb:02"}}), 403)
    q = ok(env.admin.put(f"ports/{p['id']}", {"port": {"mac_address": "fa:16:3e:aa:bb:02"}}))
    assert q["port"]["mac_address"] == "fa:16:3e:aa:bb:02"
    p3 = mk_port(env.a, net)
    e = err(env.admin.put(f"ports/{p3['id']}", {"port": {"mac_address": "fa:16:3e:aa:bb:02"}}),
            409)
    assert e["type"] == "MacAddressInUse"
    ok(env.admin.put(f"ports/{p['id']}", {"port": {"binding:host_id": "host-1"}}))
    e = err(env.admin.put(f"ports/{p['id']}", {"port": {"mac_address": "fa:16:3e:aa:bb:03"}}),
            409)
    assert e["type"] == "PortBound"
    # network:* ports keep their MAC
    d = mk_port(env.a, net, device_owner="network:dhcp")
    e = err(env.admin.put(f"ports/{d['id']}", {"port": {"mac_address": "fa:16:3e:aa:bb:04"}}),
            409)
    assert e["type"] == "UnsupportedPortDeviceOwner"


def test_update_port(env):
    net = env.network(env.a, "10.43.0.0/24")
    p = mk_port(env.a, net, name="before")
    u = ok(env.a.put(f"ports/{p['id']}", {"port": {"name": "after", "admin_state_up": False,
                                                    "description": "x",
                                                    "device_id": "dev-9",
                                                    "device_owner": "compute:nova"}}))["port"]
    assert u["name"] == "after" and u["admin_state_up"] is False
    assert u["device_id"] == "dev-9" and u["device_owner"] == "compute:nova"
    assert u["revision_number"] > p["revision_number"]
    assert u["fixed_ips"] == p["fixed_ips"] and u["mac_address"] == p["mac_address"]
    for body, text in [({"network_id": net["id"]}, "Cannot update read-only attribute "
                        "network_id"),
                       ({"tenant_id": env.project_b}, "Cannot update read-only attribute"),
                       ({"status": "ACTIVE"}, "Cannot update read-only attribute status"),
                       ({"bogus": 2}, "Unrecognized attribute(s) 'bogus'")]:
        e = err(env.a.put(f"ports/{p['id']}", {"port": body}), 400)
        assert text in e["message"], e
    e = err(env.a.put(f"ports/{uuid.uuid4()}", {"port": {"name": "x"}}), 404)
    assert e["type"] == "PortNotFound"


def test_delete_releases_everything(env):
    net = env.network(env.a, "10.44.0.0/24")
    p = mk_port(env.a, net, fixed_ips=[{"ip_address": "10.44.0.44"}],
                allowed_address_pairs=[{"ip_address": "10.44.0.45"}])
    assert env.a.delete(f"ports/{p['id']}").status_code == 204
    e = err(env.a.get(f"ports/{p['id']}"), 404)
    assert e["type"] == "PortNotFound" and e["message"] == f"Port {p['id']} could not be found."
    err(env.a.delete(f"ports/{p['id']}"), 404)
    q = mk_port(env.a, net, fixed_ips=[{"ip_address": "10.44.0.44"}],
                mac_address=p["mac_address"])
    assert q["fixed_ips"][0]["ip_address"] == "10.44.0.44"
    # the group is free again once its last port is gone
    g = ok(env.a.post("security-groups", {"security_group": {"name": "del"}}),
           201)["security_group"]
    r = mk_port(env.a, net, security_groups=[g["id"]])
    err(env.a.delete(f"security-groups/{g['id']}"), 409)
    assert env.a.delete(f"ports/{r['id']}").status_code == 204
    assert env.a.delete(f"security-groups/{g['id']}").status_code == 204


def test_extra_dhcp_opts(env):
    net = env.network(env.a, "10.58.0.0/24")
    opts = [{"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
            {"opt_name": "tftp-server", "opt_value": "123.123.123.123"},
            {"opt_name": "server-ip-address", "opt_value": "123.123.123.45", "ip_version": 4},
            {"opt_name": "dns-server", "opt_value": "2001:db8::53", "ip_version": "6"}]
    p = mk_port(env.a, net, extra_dhcp_opts=opts)

    def norm(lst):
        return sorted((o["opt_name"], o["opt_value"], o["ip_version"]) for o in lst)

    want = [("bootfile-name", "pxelinux.0", 4), ("dns-server", "2001:db8::53", 6),
            ("server-ip-address", "123.123.123.45", 4), ("tftp-server", "123.123.123.123", 4)]
    assert norm(p["extra_dhcp_opts"]) == want
    listed = [x for x in ports_on(env.a, net) if x["id"] == p["id"]][0]
    assert norm(listed["extra_dhcp_opts"]) == want
    assert mk_port(env.a, net)["extra_dhcp_opts"] == []
    # update: change one, delete one (null value), add one; [] changes nothing
    u = ok(env.a.put(f"ports/{p['id']}", {"port": {"extra_dhcp_opts": [
        {"opt_name": "bootfile-name", "opt_value": "changed.0"},
        {"opt_name": "tftp-server", "opt_value": None},
        {"opt_name": "mtu", "opt_value": "1400"}]}}))["port"]
    assert norm(u["extra_dhcp_opts"]) == [
        ("bootfile-name", "changed.0", 4), ("dns-server", "2001:db8::53", 6),
        ("mtu", "1400", 4), ("server-ip-address", "123.123.123.45", 4)]
    u2 = ok(env.a.put(f"ports/{p['id']}", {"port": {"extra_dhcp_opts": []}}))["port"]
    assert norm(u2["extra_dhcp_opts"]) == norm(u["extra_dhcp_opts"])
    for bad in ([{"opt_name": "x"}], [{"opt_name": "", "opt_value": "v"}],
                [{"opt_name": "x", "opt_value": "v", "ip_version": 5}],
                [{"opt_name": "x", "opt_value": "v", "extra": 1}], "x", ["x"]):
        e = err(env.a.post("ports", {"port": {"network_id": net["id"],
                                              "extra_dhcp_opts": bad}}), 400)
        assert "Invalid input" in e["message"], (bad, e)
    assert env.a.delete(f"ports/{p['id']}").status_code == 204


# ---------------------------------------------------------------- lists

def test_list_filters(env):
    net = mk_net(env.a, "10.45.0.0/24")
    p1 = mk_port(env.a, net, name="f1", device_id="dev-a", device_owner="compute:nova",
                 mac_address="fa:16:3e:45:00:01")
    p2 = mk_port(env.a, net, name="f2", device_id="dev-b")
    ip1 = p1["fixed_ips"][0]["ip_address"]

    def ids(**params):
        return sorted(p["id"] for p in ok(env.a.get("ports", params=params))["ports"])

    assert ids(network_id=net["id"]) == sorted([p1["id"], p2["id"]])
    assert ids(fixed_ips=f"ip_address={ip1}") == [p1["id"]]
    assert ids(fixed_ips=[f"ip_address={ip1}", f"subnet_id={net['subnet']['id']}"]) == [p1["id"]]
    assert ids(network_id=net["id"], fixed_ips=f"subnet_id={net['subnet']['id']}") == sorted(
        [p1["id"], p2["id"]])
    assert ids(fixed_ips="ip_address=10.45.9.9") == []
    assert ids(network_id=net["id"], fixed_ips="ip_address_substr=10.45.0.") == sorted(
        [p1["id"], p2["id"]])
    assert ids(device_id="dev-a") == [p1["id"]]
    assert ids(device_owner="compute:nova", network_id=net["id"]) == [p1["id"]]
    assert ids(mac_address="FA:16:3E:45:00:01") == [p1["id"]]
    assert ids(name="f2", network_id=net["id"]) == [p2["id"]]
    assert ids(network_id=net["id"], device_id=["dev-a", "dev-b"]) == sorted([p1["id"], p2["id"]])
    assert ids(network_id=net["id"], admin_state_up="false") == []
    e = err(env.a.get("ports", params={"fixed_ips": "nonsense"}), 400)
    assert "is not of the form <key>=[value]" in e["message"]
    # fields, sorting and pagination
    r = ok(env.a.get("ports", params={"network_id": net["id"], "fields": ["id", "name"],
                                      "sort_key": "name", "sort_dir": "desc"}))["ports"]
    assert [p["name"] for p in r] == ["f2", "f1"] and set(r[0]) == {"id", "name"}
    page = ok(env.a.get("ports", params={"network_id": net["id"], "limit": 1,
                                         "sort_key": "name", "sort_dir": "asc"}))
    assert [p["name"] for p in page["ports"]] == ["f1"]
    assert any(link["rel"] == "next" for link in page["ports_links"])
    page2 = ok(env.a.get("ports", params={"network_id": net["id"], "limit": 1,
                                          "sort_key": "name", "sort_dir": "asc",
                                          "marker": page["ports"][0]["id"]}))
    assert [p["name"] for p in page2["ports"]] == ["f2"]
    err(env.a.get("ports", params={"sort_key": "fixed_ips"}), 400)


def test_list_visibility(env):
    na = env.network(env.a, "10.46.0.0/24")
    nb = env.network(env.b, "10.46.0.0/24")
    pa, pb = mk_port(env.a, na), mk_port(env.b, nb)
    la = [p["id"] for p in ok(env.a.get("ports"))["ports"]]
    lb = [p["id"] for p in ok(env.b.get("ports"))["ports"]]
    assert pa["id"] in la and pb["id"] not in la
    assert pb["id"] in lb and pa["id"] not in lb
    assert all(p["project_id"] == env.project_a for p in ok(env.a.get("ports"))["ports"])
    adm = [p["id"] for p in ok(env.admin.get("ports"))["ports"]]
    assert pa["id"] in adm and pb["id"] in adm
    # an admin's port on A's network is visible to A (the network's owner)
    pz = ok(env.admin.post("ports", {"port": {"network_id": na["id"], "name": "adm"}}),
            201)["port"]
    assert pz["project_id"] == env.admin_project
    assert pz["id"] in [p["id"] for p in ok(env.a.get("ports"))["ports"]]
    assert ok(env.a.get(f"ports/{pz['id']}"))["port"]["id"] == pz["id"]


# ---------------------------------------------------------------- projects and policy

def test_other_projects(env):
    na = env.network(env.a, "10.47.0.0/24")
    pa = mk_port(env.a, na)
    for method in ("get", "delete"):
        e = err(getattr(env.b, method)(f"ports/{pa['id']}"), 404)
        assert e["type"] == "PortNotFound"
    err(env.b.put(f"ports/{pa['id']}", {"port": {"name": "x"}}), 404)
    e = err(env.b.post("ports", {"port": {"network_id": na["id"]}}), 404)
    assert e["type"] == "NetworkNotFound"
    assert e["message"] == f"Network {na['id']} could not be found."
    e = err(env.b.post("ports", {"port": {"network_id": na["id"], "tenant_id": env.project_a}}),
            403)
    # a security group of another project cannot be used
    gb = ok(env.b.post("security-groups", {"security_group": {"name": "bg"}}),
            201)["security_group"]
    e = err(env.a.post("ports", {"port": {"network_id": na["id"],
                                          "security_groups": [gb["id"]]}}), 404)
    assert e["type"] == "SecurityGroupNotFound"
    assert e["message"] == f"Security group {gb['id']} does not exist"
    e = err(env.a.post("ports", {"port": {"network_id": na["id"],
                                          "security_groups": [str(uuid.uuid4())]}}), 404)
    assert e["type"] == "SecurityGroupNotFound"


def test_shared_network(env):
    shared = mk_net(env.admin, "10.48.0.0/24", shared=True)
    p = mk_port(env.b, shared)
    assert p["project_id"] == env.project_b
    assert p["security_groups"] == [env.default_group(env.b)["id"]]
    # on someone else's network: no chosen address, MAC or network:* owner
    for extra in ({"fixed_ips": [{"ip_address": "10.48.0.99"}]},
                  {"mac_address": "fa:16:3e:48:00:01"},
                  {"device_owner": "network:dhcp"},
                  {"port_security_enabled": False}):
        body = {"network_id": shared["id"]}
        body.update(extra)
        e = err(env.b.post("ports", {"port": body}), 403)
        assert e["type"] == "PolicyNotAuthorized", e
    # choosing the subnet is fine on a shared network
    q = mk_port(env.b, shared, fixed_ips=[{"subnet_id": shared["subnet"]["id"]}])
    assert q["fixed_ips"][0]["subnet_id"] == shared["subnet"]["id"]
    # the admin (network owner) sees B's ports on it
    assert {p["id"], q["id"]} <= {x["id"] for x in ports_on(env.admin, shared)}
    # a member's network:* port on its own network is fine, and trusted
    own = env.network(env.b, "10.49.0.0/24")
    d = mk_port(env.b, own, device_owner="network:dhcp", device_id="dhcp-1")
    assert d["security_groups"] == []


def test_binding(env):
    net = env.network(env.a, "10.50.0.0/24")
    e = err(env.a.post("ports", {"port": {"network_id": net["id"],
                                          "binding:host_id": "compute-1"}}), 403)
    assert e["type"] == "PolicyNotAuthorized"
    p = ok(env.admin.post("ports", {"port": {"network_id": net["id"], "tenant_id": env.project_a,
                                             "binding:host_id": "compute-1",
                                             "binding:profile": {"a": 1}}}), 201)["port"]
    assert p["binding:host_id"] == "compute-1" and p["binding:vif_type"] == "bridge"
    assert p["binding:vif_details"] == BRIDGE_DETAILS and p["binding:profile"] == {"a": 1}
    mine = ok(env.a.get(f"ports/{p['id']}"))["port"]
    assert [k for k in mine if k.startswith("binding:")] == ["binding:vnic_type"]
    listed = ok(env.admin.get("ports", params={"binding:host_id": "compute-1"}))["ports"]
    assert p["id"] in [x["id"] for x in listed]
    u = ok(env.admin.put(f"ports/{p['id']}", {"port": {"binding:host_id": ""}}))["port"]
    assert u["binding:vif_type"] == "unbound" and u["binding:vif_details"] == {}
    u = ok(env.admin.put(f"ports/{p['id']}", {"port": {"binding:vnic_type": "direct",
                                                        "binding:host_id": "compute-2"}}))["port"]
    assert u["binding:vif_type"] == "binding_failed" and u["binding:vnic_type"] == "direct"
    # the vnic type of a port with a binding (even a failed one) is fixed
    e = err(env.admin.put(f"ports/{p['id']}", {"port": {"binding:vnic_type": "normal"}}), 409)
    assert e["type"] == "PortInUse"
    ok(env.admin.put(f"ports/{p['id']}", {"port": {"binding:host_id": ""}}))
    u = ok(env.admin.put(f"ports/{p['id']}", {"port": {"binding:vnic_type": "normal"}}))["port"]
    assert u["binding:vnic_type"] == "normal" and u["binding:vif_type"] == "unbound"
    ok(env.admin.put(f"ports/{p['id']}", {"port": {"binding:host_id": "compute-3"}}))
    e = err(env.admin.put(f"ports/{p['id']}", {"port": {"binding:vnic_type": "macvtap"}}), 409)
    assert e["type"] == "PortInUse"
    err(env.a.put(f"ports/{p['id']}", {"port": {"binding:host_id": "x"}}), 403)


def test_port_security(env):
    net = env.network(env.a, "10.51.0.0/24")
    g = env.default_group(env.a)
    e = err(env.a.post("ports", {"port": {"network_id": net["id"], "port_security_enabled": False,
                                          "security_groups": [g["id"]]}}), 400)
    assert e["type"] == "PortSecurityAndIPRequiredForSecurityGroups"
    e = err(env.a.post("ports", {"port": {"network_id": net["id"], "port_security_enabled": False,
                                          "allowed_address_pairs": [
                                              {"ip_address": "10.51.0.9"}]}}), 409)
    assert e["type"] == "AddressPairAndPortSecurityRequired"
    open_port = mk_port(env.a, net, port_security_enabled=False)
    assert open_port["port_security_enabled"] is False and open_port["security_groups"] == []
    p = mk_port(env.a, net)
    e = err(env.a.put(f"ports/{p['id']}", {"port": {"port_security_enabled": False}}), 409)
    assert e["type"] == "PortSecurityPortHasSecurityGroup"
    u = ok(env.a.put(f"ports/{p['id']}", {"port": {"port_security_enabled": False,
                                                    "security_groups": []}}))["port"]
    assert u["port_security_enabled"] is False and u["security_groups"] == []
    e = err(env.a.put(f"ports/{p['id']}", {"port": {"security_groups": [g["id"]]}}), 400)
    assert e["type"] == "PortSecurityAndIPRequiredForSecurityGroups"
    u = ok(env.a.put(f"ports/{p['id']}", {"port": {"port_security_enabled": True,
                                                    "security_groups": [g["id"]],
                                                    "allowed_address_pairs": [
                                                        {"ip_address": "10.51.0.8"}]}}))["port"]
    assert u["security_groups"] == [g["id"]] and len(u["allowed_address_pairs"]) == 1
    e = err(env.a.put(f"ports/{p['id']}", {"port": {"port_security_enabled": False,
                                                    "security_groups": []}}), 409)
    assert e["type"] == "AddressPairAndPortSecurityRequired"
    # a network without port security gives its ports none
    n2 = mk_net(env.a, "10.52.0.0/24", port_security_enabled=False)
    q = mk_port(env.a, n2)
    assert q["port_security_enabled"] is False and q["security_groups"] == []


def test_security_groups_on_ports(env):
    net = env.network(env.a, "10.53.0.0/24")
    g1 = ok(env.a.post("security-groups", {"security_group": {"name": "s1"}}),
            201)["security_group"]
    g2 = ok(env.a.post("security-groups", {"security_group": {"name": "s2"}}),
            201)["security_group"]
    p = mk_port(env.a, net, security_groups=[])
    assert p["security_groups"] == []
    u = ok(env.a.put(f"ports/{p['id']}", {"port": {"security_groups": [g1["id"], g2["id"]],
                                                    "name": "two"}}))["port"]
    assert sorted(u["security_groups"]) == sorted([g1["id"], g2["id"]])
    listed = ok(env.a.get("ports", params={"security_groups": g2["id"]}))["ports"]
    assert [x["id"] for x in listed] == [p["id"]]
    e = err(env.a.put(f"ports/{p['id']}", {"port": {"security_groups": [g1["id"], g1["id"]]}}),
            400)
    assert "Duplicate items in the list" in e["message"]
    u = ok(env.a.put(f"ports/{p['id']}", {"port": {"security_groups": None}}))["port"]
    assert u["security_groups"] == []


def test_quota(env):
    c = env.new_project("pq")
    net = env.network(c, "10.54.0.0/24")
    ok(env.admin.put(f"quotas/{c.project_id}", {"quota": {"port": 2}}))
    mk_port(c, net)
    e = err(c.post("ports", {"ports": [{"network_id": net["id"]}, {"network_id": net["id"]}]}),
            409)
    assert e["message"] == "Quota exceeded for resources: ['port']."
    mk_port(c, net)
    err(c.post("ports", {"port": {"network_id": net["id"]}}), 409)
    assert len(ports_on(c, net)) == 2


def test_router_ports(env):
    """Router ports (L3): protected from DELETE /ports, device_id checks."""
    net = env.network(env.a, "10.55.0.0/24")
    r = env.a.post("routers", {"router": {"name": "r"}})
    if r.status_code == 404:
        pytest.skip("routers are not available")
    router = ok(r, 201)["router"]
    ok(env.a.put(f"routers/{router['id']}/add_router_interface",
                 {"subnet_id": net["subnet"]["id"]}))
    ports = ok(env.a.get("ports", params={"device_id": router["id"]}))["ports"]
    assert len(ports) == 1 and ports[0]["device_owner"] == "network:router_interface"
    assert ports[0]["fixed_ips"][0]["ip_address"] == net["subnet"]["gateway_ip"]
    e = err(env.a.delete(f"ports/{ports[0]['id']}"), 409)
    assert e["type"] == "ServicePortInUse"
    assert e["message"] == (f"Port {ports[0]['id']} cannot be deleted directly via the port "
                            "API: has device owner network:router_interface.")
    # another project cannot attach a port to A's router
    nb = env.network(env.b, "10.56.0.0/24")
    e = err(env.b.post("ports", {"port": {"network_id": nb["id"],
                                          "device_owner": "network:router_interface",
                                          "device_id": router["id"]}}), 409)
    assert e["type"] == "DeviceIDNotOwnedByTenant"
    ok(env.a.put(f"routers/{router['id']}/remove_router_interface",
                 {"subnet_id": net["subnet"]["id"]}))
    assert ok(env.a.get("ports", params={"device_id": router["id"]}))["ports"] == []
    assert env.a.delete(f"routers/{router['id']}").status_code == 204


# ---------------------------------------------------------------- CLI

def test_openstack_port_cli(env, kumo):
    net = env.network(env.a, "10.57.0.0/24")
    cli = openstack_cli(kumo, env.user_a, env.pw, env.project_a)
    name = "cli-" + uuid.uuid4().hex[:6]
    p = json.loads(cli("port", "create", "--network", net["id"], "--fixed-ip",
                       f"subnet={net['subnet']['id']},ip-address=10.57.0.57", name,
                       "-f", "json"))
    assert p["name"] == name and p["status"] == "DOWN"
    ips = p["fixed_ips"]
    assert "10.57.0.57" in json.dumps(ips)
    listed = json.loads(cli("port", "list", "--network", net["id"], "-f", "json"))
    assert name in [x["Name"] for x in listed]
    assert [x for x in listed if x["Name"] == name][0]["MAC Address"] == p["mac_address"]
    cli("port", "set", "--name", name + "-2", "--description", "via cli", name)
    shown = json.loads(cli("port", "show", name + "-2", "-f", "json"))
    assert shown["id"] == p["id"] and shown["description"] == "via cli"
    out = cli("port", "list", "--fixed-ip", "ip-address=10.57.0.57", "-f", "value", "-c", "ID")
    assert out.split() == [p["id"]]
    # Neutron's message reaches the user
    bad = cli("port", "create", "--network", net["id"], "--fixed-ip", "ip-address=10.57.0.57",
              "dup", check=False)
    assert bad.returncode != 0 and "already allocated" in bad.stderr
    cli("port", "delete", name + "-2")
    assert name + "-2" not in cli("port", "list", "-f", "value", "-c", "Name").split()


# ---------------------------------------------------------------- agents

def network_db(kumo):
    """A DB-API connection to the network database (SQLite or MySQL) and its
    parameter mark, or None."""
    url = None
    section = None
    for line in Path(kumo.conf).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[network]" and line.startswith("connection"):
            url = line.split("=", 1)[1].strip()
    if url is None:
        url = f"sqlite:///{Path(kumo.dir) / 'network.db'}"
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        return (sqlite3.connect(str(path), timeout=30), "?") if path.exists() else None
    m = re.match(r"^mysql(?:\+\w+)?://([^:@/]*)(?::([^@/]*))?@([^:/]+)(?::(\d+))?/(\w+)", url)
    try:
        import pymysql
    except ImportError:
        return None
    if not m:
        return None
    user, pw, host, port, db = m.groups()
    return pymysql.connect(host=host, port=int(port or 3306), user=user, password=pw or "",
                           database=db, autocommit=False), "%s"


@pytest.fixture(scope="module")
def agents(env, kumo):
    conn = network_db(kumo)
    if not conn:
        pytest.skip("cannot reach the network database to write agent rows")
    db, mark = conn
    now = int(time.time() * 1e6)
    host = "it-host-" + uuid.uuid4().hex[:6]
    rows = [
        (str(uuid.uuid4()), "Linux bridge agent", "neutron-linuxbridge-agent", host, "N/A",
         now, '{"interface_mappings": {"physnet1": "kumo-phys1"}}', None),
        (str(uuid.uuid4()), "DHCP agent", "neutron-dhcp-agent", host, "dhcp_agent",
         now - 600 * 10**6, '{"dhcp_driver": "dnsmasq"}', "nova"),
    ]
    sql = ("INSERT INTO net_agent (id, agent_type, binary_name, host, topic, admin_state_up,"
           " heartbeat_at, started_at, created_at, configurations, availability_zone,"
           " description) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, '')").replace("?", mark)
    cur = db.cursor()
    for aid, typ, binary, h, topic, beat, conf, az in rows:
        cur.execute(sql, (aid, typ, binary, h, topic, beat, beat, beat, conf, az))
    db.commit()
    yield {"host": host, "lb": rows[0][0], "dhcp": rows[1][0]}
    cur = db.cursor()
    cur.execute(f"DELETE FROM net_agent WHERE host = {mark}", (host,))
    db.commit()
    db.close()


def test_agents_api(env, agents):
    listed = ok(env.admin.get("agents", params={"host": agents["host"]}))["agents"]
    by_type = {a["agent_type"]: a for a in listed}
    assert set(by_type) == {"Linux bridge agent", "DHCP agent"}
    lb = by_type["Linux bridge agent"]
    assert lb["id"] == agents["lb"] and lb["alive"] is True and lb["admin_state_up"] is True
    assert lb["binary"] == "neutron-linuxbridge-agent" and lb["topic"] == "N/A"
    assert lb["configurations"] == {"interface_mappings": {"physnet1": "kumo-phys1"}}
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", lb["heartbeat_timestamp"])
    assert lb["availability_zone"] is None and lb["description"] is None
    dhcp = by_type["DHCP agent"]
    assert dhcp["alive"] is False and dhcp["availability_zone"] == "nova"
    alive = ok(env.admin.get("agents", params={"host": agents["host"], "alive": "true"}))
    assert [a["id"] for a in alive["agents"]] == [agents["lb"]]
    shown = ok(env.admin.get(f"agents/{agents['dhcp']}"))["agent"]
    assert shown["agent_type"] == "DHCP agent"
    u = ok(env.admin.put(f"agents/{agents['dhcp']}", {"agent": {"admin_state_up": False,
                                                                 "description": "off"}}))
    assert u["agent"]["admin_state_up"] is False and u["agent"]["description"] == "off"
    e = err(env.admin.put(f"agents/{agents['dhcp']}", {"agent": {"host": "x"}}), 400)
    assert "Cannot update read-only attribute host" in e["message"]
    # members see no agents
    assert ok(env.a.get("agents"))["agents"] == []
    err(env.a.get(f"agents/{agents['lb']}"), 404)
    assert env.a.put(f"agents/{agents['lb']}", {"agent": {"admin_state_up": False}}).status_code \
        in (403, 404)
    assert env.a.delete(f"agents/{agents['lb']}").status_code in (403, 404)
    e = err(env.admin.get(f"agents/{uuid.uuid4()}"), 404)
    assert e["type"] == "AgentNotFound"


def test_neutron_agent_list(env, kumo, agents):
    cli = openstack_cli(kumo, "admin", kumo.admin_password, env.admin_project, tool=NEUTRON)
    out = cli("agent-list")
    lines = [line for line in out.splitlines() if agents["host"] in line]
    assert len(lines) == 2, out
    lb = [line for line in lines if "Linux bridge agent" in line][0]
    dhcp = [line for line in lines if "DHCP agent" in line][0]
    assert ":-)" in lb and "neutron-linuxbridge-agent" in lb
    assert "xxx" in dhcp and "nova" in dhcp
    out = cli("agent-show", agents["lb"])
    assert "Linux bridge agent" in out and "interface_mappings" in out


def test_agent_delete(env, agents):
    assert env.admin.delete(f"agents/{agents['dhcp']}").status_code == 204
    err(env.admin.get(f"agents/{agents['dhcp']}"), 404)
    err(env.admin.delete(f"agents/{agents['dhcp']}"), 404)
