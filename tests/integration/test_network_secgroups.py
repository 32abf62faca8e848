"""Security groups and rules of the Network API (Neutron's security-group
extension), against the session kumo of conftest.py (agents off).

Covers the per-project "default" group and its template rules, group CRUD
and Neutron's special cases for "default", rule validation in Neutron's
order and words (protocols, port ranges, ICMP type/code, ethertypes,
prefixes, remotes, duplicates), visibility between projects, groups in use,
quotas, and the real `openstack security group (rule)` commands.
"""

import json
import threading
import uuid

import pytest

from netapi import Env, err, ok, openstack_cli


@pytest.fixture(scope="module")
def env(kumo, admin):
    return Env(kumo, admin, "sg")


def rule_body(sg, **kw):
    body = {"security_group_id": sg, "direction": "ingress"}
    body.update(kw)
    return {"security_group_rule": body}


def mk_group(api, name=None, **kw):
    body = {"name": name or "sg-" + uuid.uuid4().hex[:8]}
    body.update(kw)
    return ok(api.post("security-groups", {"security_group": body}), 201)["security_group"]


# ---------------------------------------------------------------- default group

def test_default_group_made_on_first_list(env):
    groups = ok(env.a.get("security-groups"))["security_groups"]
    defaults = [g for g in groups if g["name"] == "default"]
    assert len(defaults) == 1
    d = defaults[0]
    assert d["project_id"] == env.project_a == d["tenant_id"]
    assert d["description"] == "Default security group"
    assert d["stateful"] is True and d["shared"] is False
    assert d["revision_number"] >= 1 and d["tags"] == []
    assert d["created_at"].endswith("Z")
    rules = {(r["direction"], r["ethertype"]): r for r in d["security_group_rules"]}
    assert set(rules) == {("ingress", "IPv4"), ("ingress", "IPv6"),
                          ("egress", "IPv4"), ("egress", "IPv6")}
    for (direction, _), r in rules.items():
        assert r["protocol"] is None and r["port_range_min"] is None
        assert r["port_range_max"] is None and r["remote_ip_prefix"] is None
        assert r["remote_group_id"] == (d["id"] if direction == "ingress" else None)
        assert r["belongs_to_default_sg"] is True
        assert r["security_group_id"] == d["id"] and r["project_id"] == env.project_a
    # the same group the next time, and through the rules API too
    again = ok(env.a.get("security-groups", params={"name": "default"}))["security_groups"]
    assert [g["id"] for g in again] == [d["id"]]
    listed = ok(env.a.get("security-group-rules",
                          params={"security_group_id": d["id"]}))["security_group_rules"]
    assert {r["id"] for r in listed} == {r["id"] for r in rules.values()}


def test_one_default_group_under_concurrency(env):
    """Many first requests at once still make a single default group."""
    c = env.new_project("race")
    results = []

    def lister():
        results.append(c.get("security-groups").status_code)

    threads = [threading.Thread(target=lister) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    groups = ok(c.get("security-groups"))["security_groups"]
    assert len([g for g in groups if g["name"] == "default"]) == 1


def test_default_group_rules(env):
    d = env.default_group(env.a)
    # cannot be renamed, created, or deleted by the project
    e = err(env.a.put(f"security-groups/{d['id']}", {"security_group": {"name": "x"}}), 409)
    assert e["type"] == "SecurityGroupCannotUpdateDefault"
    assert e["message"] == "Updating default security group not allowed."
    e = err(env.a.post("security-groups", {"security_group": {"name": "default"}}), 409)
    assert e["type"] == "SecurityGroupDefaultAlreadyExists"
    err(env.a.post("security-groups", {"security_group": {"name": "Default"}}), 409)
    e = err(env.a.delete(f"security-groups/{d['id']}"), 409)
    assert e["type"] == "SecurityGroupCannotRemoveDefault"
    assert e["message"] == "Insufficient rights for removing default security group."
    # its description may change
    g = ok(env.a.put(f"security-groups/{d['id']}",
                     {"security_group": {"description": "mine"}}))["security_group"]
    assert g["description"] == "mine" and g["name"] == "default"
    assert g["revision_number"] > d["revision_number"]


def test_admin_deletes_default_group_and_it_comes_back(env):
    c = env.new_project("defdel")
    d = env.default_group(c)
    assert env.admin.delete(f"security-groups/{d['id']}").status_code == 204
    err(env.admin.get(f"security-groups/{d['id']}"), 404)
    d2 = env.default_group(c)
    assert d2["id"] != d["id"] and len(d2["security_group_rules"]) == 4


# ---------------------------------------------------------------- groups

def test_group_crud(env):
    g = mk_group(env.a, description="web servers")
    assert g["description"] == "web servers" and g["stateful"] is True
    assert g["project_id"] == env.project_a
    rules = g["security_group_rules"]
    assert sorted((r["direction"], r["ethertype"]) for r in rules) == [
        ("egress", "IPv4"), ("egress", "IPv6")]
    assert all(r["belongs_to_default_sg"] is False for r in rules)
    shown = ok(env.a.get(f"security-groups/{g['id']}"))["security_group"]
    assert shown["id"] == g["id"] and len(shown["security_group_rules"]) == 2
    # fields
    f = ok(env.a.get(f"security-groups/{g['id']}", params={"fields": ["id", "name"]}))
    assert set(f["security_group"]) == {"id", "name"}
    listed = ok(env.a.get("security-groups"))["security_groups"]
    assert g["id"] in [x["id"] for x in listed]
    u = ok(env.a.put(f"security-groups/{g['id']}",
                     {"security_group": {"name": "renamed", "description": "d2"}}))
    assert u["security_group"]["name"] == "renamed"
    assert u["security_group"]["description"] == "d2"
    assert u["security_group"]["revision_number"] > g["revision_number"]
    e = err(env.a.put(f"security-groups/{g['id']}", {"security_group": {"name": "DEFAULT"}}),
            409)
    assert e["type"] == "SecurityGroupDefaultAlreadyExists"
    assert env.a.delete(f"security-groups/{g['id']}").status_code == 204
    e = err(env.a.get(f"security-groups/{g['id']}"), 404)
    assert e["type"] == "SecurityGroupNotFound"
    assert e["message"] == f"Security group {g['id']} does not exist"
    # its rules went with it
    rules = ok(env.a.get("security-group-rules"))["security_group_rules"]
    assert not [r for r in rules if r["security_group_id"] == g["id"]]
    err(env.a.delete(f"security-groups/{g['id']}"), 404)


def test_group_bad_input(env):
    cases = [
        ({"security_group": {"name": 5}}, 400, "Invalid input for name"),
        ({"security_group": {"name": "x" * 256}}, 400, "exceeds maximum length of 255"),
        ({"security_group": {"bogus": 1}}, 400, "Unrecognized attribute(s) 'bogus'"),
        ({"security_group": {"stateful": "maybe"}}, 400, "cannot be converted to boolean"),
        ({"security_group": {"id": str(uuid.uuid4())}}, 400, "Attribute 'id' not allowed in POST"),
        ({"security_group": {"security_group_rules": []}}, 400,
         "Attribute 'security_group_rules' not allowed in POST"),
        ({"security_group": "x"}, 400, None),
        ({"nothing": {}}, 400, "Unable to find 'security_group' in request body"),
    ]
    before = len(ok(env.a.get("security-groups"))["security_groups"])
    for body, code, text in cases:
        e = err(env.a.post("security-groups", body), code)
        if text:
            assert text in e["message"], (body, e)
    r = env.a.post("security-groups", data="{not json", headers={
        "Content-Type": "application/json"})
    assert r.status_code == 400
    assert len(ok(env.a.get("security-groups"))["security_groups"]) == before


def test_bulk_create_all_or_nothing(env):
    names = ["bulk-" + uuid.uuid4().hex[:6] for _ in range(2)]
    body = {"security_groups": [{"name": names[0]}, {"name": names[1]}]}
    out = ok(env.a.post("security-groups", body), 201)["security_groups"]
    assert sorted(g["name"] for g in out) == sorted(names)
    bad = {"security_groups": [{"name": "fine-" + uuid.uuid4().hex[:6]}, {"name": "default"}]}
    err(env.a.post("security-groups", bad), 409)
    listed = [g["name"] for g in ok(env.a.get("security-groups"))["security_groups"]]
    assert bad["security_groups"][0]["name"] not in listed
    for g in out:
        assert env.a.delete(f"security-groups/{g['id']}").status_code == 204


def test_stateless_group(env):
    g = mk_group(env.a, stateful=False)
    assert g["stateful"] is False
    g2 = ok(env.a.put(f"security-groups/{g['id']}",
                      {"security_group": {"stateful": True}}))["security_group"]
    assert g2["stateful"] is True
    ok(env.a.put(f"security-groups/{g['id']}", {"security_group": {"stateful": False}}))
    # a port cannot mix stateful and stateless groups
    net = env.network(env.a)
    e = err(env.a.post("ports", {"port": {"network_id": net["id"], "security_groups": [
        g["id"], env.default_group(env.a)["id"]]}}), 409)
    assert e["type"] == "SecurityGroupConflict"
    port = ok(env.a.post("ports", {"port": {"network_id": net["id"],
                                            "security_groups": [g["id"]]}}), 201)["port"]
    # in use: statefulness cannot change, the group cannot go
    e = err(env.a.put(f"security-groups/{g['id']}", {"security_group": {"stateful": True}}),
            409)
    assert e["type"] == "SecurityGroupInUse"
    e = err(env.a.delete(f"security-groups/{g['id']}"), 409)
    assert e["type"] == "SecurityGroupInUse"
    assert e["message"] == f"Security Group {g['id']} in use."
    assert env.a.delete(f"ports/{port['id']}").status_code == 204
    assert env.a.delete(f"security-groups/{g['id']}").status_code == 204


def test_other_projects_groups_are_invisible(env):
    g = mk_group(env.a)
    e = err(env.b.get(f"security-groups/{g['id']}"), 404)
    assert e["type"] == "SecurityGroupNotFound"
    assert g["id"] not in [x["id"] for x in ok(env.b.get("security-groups"))["security_groups"]]
    err(env.b.put(f"security-groups/{g['id']}", {"security_group": {"name": "x"}}), 404)
    err(env.b.delete(f"security-groups/{g['id']}"), 404)
    e = err(env.b.post("security-group-rules", rule_body(g["id"], protocol="tcp")), 404)
    assert e["type"] == "SecurityGroupNotFound"
    # nor can a project name another one in its body
    e = err(env.b.post("security-groups", {"security_group": {
        "name": "x", "tenant_id": env.project_a}}), 403)
    # but the admin sees and can act on it
    assert ok(env.admin.get(f"security-groups/{g['id']}"))["security_group"]["id"] == g["id"]
    assert g["id"] in [x["id"] for x in ok(env.admin.get("security-groups"))["security_groups"]]
    # a rule of B's on its own group cannot name A's group as remote
    gb = mk_group(env.b)
    e = err(env.b.post("security-group-rules", rule_body(gb["id"], remote_group_id=g["id"])),
            404)
    assert e["type"] == "SecurityGroupNotFound"
    assert env.a.delete(f"security-groups/{g['id']}").status_code == 204
    assert env.b.delete(f"security-groups/{gb['id']}").status_code == 204


def test_admin_creates_group_for_a_project(env):
    c = env.new_project("forother")
    g = ok(env.admin.post("security-groups", {"security_group": {
        "name": "given", "tenant_id": c.project_id}}), 201)["security_group"]
    assert g["project_id"] == c.project_id
    names = [x["name"] for x in ok(c.get("security-groups"))["security_groups"]]
    assert sorted(names) == ["default", "given"]


def test_group_quota(env):
    c = env.new_project("quota")
    ok(env.admin.put(f"quotas/{c.project_id}", {"quota": {"security_group": 2}}))
    env.default_group(c)          # 1 of 2
    mk_group(c)                   # 2 of 2
    e = err(c.post("security-groups", {"security_group": {"name": "third"}}), 409)
    assert e["type"] == "OverQuota"
    assert e["message"] == "Quota exceeded for resources: ['security_group']."
    assert len(ok(c.get("security-groups"))["security_groups"]) == 2


def test_rule_quota(env):
    c = env.new_project("rquota")
    g = mk_group(c)               # 4 default rules + 2
    ok(env.admin.put(f"quotas/{c.project_id}", {"quota": {"security_group_rule": 7}}))
    ok(c.post("security-group-rules", rule_body(g["id"], protocol="tcp")), 201)
    e = err(c.post("security-group-rules", rule_body(g["id"], protocol="udp")), 409)
    assert e["message"] == "Quota exceeded for resources: ['security_group_rule']."


# ---------------------------------------------------------------- rules

@pytest.fixture
def group(env):
    g = mk_group(env.a)
    yield g
    env.a.delete(f"security-groups/{g['id']}")


def test_rule_crud(env, group):
    r = ok(env.a.post("security-group-rules", rule_body(
        group["id"], protocol="tcp", port_range_min=22, port_range_max=22,
        remote_ip_prefix="10.0.0.0/8", description="ssh")), 201)["security_group_rule"]
    assert r["ethertype"] == "IPv4" and r["direction"] == "ingress"
    assert r["protocol"] == "tcp" and r["port_range_min"] == r["port_range_max"] == 22
    assert r["remote_ip_prefix"] == "10.0.0.0/8" and r["normalized_cidr"] == "10.0.0.0/8"
    assert r["remote_group_id"] is None and r["remote_address_group_id"] is None
    assert r["description"] == "ssh" and r["project_id"] == env.project_a
    assert r["tenant_id"] == env.project_a and r["belongs_to_default_sg"] is False
    assert r["revision_number"] == 0 and r["created_at"].endswith("Z")
    shown = ok(env.a.get(f"security-group-rules/{r['id']}"))["security_group_rule"]
    assert shown == r
    g = ok(env.a.get(f"security-groups/{group['id']}"))["security_group"]
    assert r["id"] in [x["id"] for x in g["security_group_rules"]]
    assert g["revision_number"] > group["revision_number"]
    listed = ok(env.a.get("security-group-rules", params={"protocol": "tcp"}))
    assert r["id"] in [x["id"] for x in listed["security_group_rules"]]
    assert all(x["protocol"] == "tcp" for x in listed["security_group_rules"])
    assert env.a.delete(f"security-group-rules/{r['id']}").status_code == 204
    e = err(env.a.get(f"security-group-rules/{r['id']}"), 404)
    assert e["type"] == "SecurityGroupRuleNotFound"
    assert e["message"] == f"Security group rule {r['id']} does not exist"
    err(env.a.delete(f"security-group-rules/{r['id']}"), 404)
    # rules cannot be updated
    egress = group["security_group_rules"][0]["id"]
    assert env.a.put(f"security-group-rules/{egress}",
                     {"security_group_rule": {"description": "x"}}).status_code == 405


@pytest.mark.parametrize("given,stored", [
    ({"protocol": "TCP"}, {"protocol": "tcp"}),
    ({"protocol": 17}, {"protocol": "17"}),
    ({"protocol": "132"}, {"protocol": "132"}),
    ({"protocol": "any"}, {"protocol": None}),
    ({"protocol": None}, {"protocol": None}),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
     {"port_range_min": 8, "port_range_max": 0}),
    ({"protocol": "icmp", "port_range_min": 11}, {"port_range_min": 11, "port_range_max": None}),
    ({"protocol": "tcp", "port_range_min": 1, "port_range_max": 65535},
     {"port_range_min": None, "port_range_max": None}),
    ({"protocol": "udp", "port_range_min": "53", "port_range_max": "53"},
     {"port_range_min": 53, "port_range_max": 53}),
    ({"ethertype": "ipv6", "protocol": "icmp"}, {"ethertype": "IPv6", "protocol": "ipv6-icmp"}),
    ({"ethertype": "IPv6", "protocol": "icmpv6"}, {"protocol": "ipv6-icmp"}),
    ({"ethertype": "IPv6", "protocol": "1"}, {"protocol": "58"}),
    ({"remote_ip_prefix": "192.168.1.10"},
     {"remote_ip_prefix": "192.168.1.10/32", "normalized_cidr": "192.168.1.10/32"}),
    ({"remote_ip_prefix": "192.168.1.10/24"},
     {"remote_ip_prefix": "192.168.1.10/24", "normalized_cidr": "192.168.1.0/24"}),
    ({"ethertype": "IPv6", "remote_ip_prefix": "2001:DB8::1/64"},
     {"remote_ip_prefix": "2001:db8::1/64", "normalized_cidr": "2001:db8::/64"}),
    ({"direction": "egress", "protocol": "gre"}, {"direction": "egress", "protocol": "gre"}),
])
def test_rule_conversions(env, group, given, stored):
    r = ok(env.a.post("security-group-rules", rule_body(group["id"], **given)), 201)
    rule = r["security_group_rule"]
    for k, v in stored.items():
        assert rule[k] == v, (k, rule)
    assert env.a.delete(f"security-group-rules/{rule['id']}").status_code == 204


@pytest.mark.parametrize("given,code,typ,text", [
    ({"protocol": "bad_protocol_name"}, 400, "SecurityGroupRuleInvalidProtocol",
     "Security group rule protocol bad_protocol_name not supported. Only protocol values "
     "(None, 'any', 'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', 'ipip',"
     " 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', "
     "'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp') and "
     "integer representations [0 to 255] are supported."),
    ({"protocol": 256}, 400, "SecurityGroupRuleInvalidProtocol", "protocol 256 not supported"),
    ({"protocol": -1}, 400, "SecurityGroupRuleInvalidProtocol", None),
    ({"protocol": "tcp", "port_range_min": -16, "port_range_max": 80}, 400,
     "SecurityGroupInvalidPortValue", "Invalid value for port -16"),
    ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 79}, 400,
     "SecurityGroupInvalidPortRange",
     "For TCP/UDP protocols, port_range_min must be <= port_range_max"),
    ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 65536}, 400,
     "SecurityGroupInvalidPortValue", "Invalid value for port 65536"),
    ({"protocol": "tcp", "port_range_max": 6}, 400, "SecurityGroupInvalidPortRange", None),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 10}, 400,
     "SecurityGroupInvalidPortValue", "Invalid value for port 0"),
    ({"protocol": "tcp", "port_range_min": "abc"}, 400, "SecurityGroupInvalidPortValue",
     "Invalid value for port abc"),
    ({"protocol": "icmp", "port_range_min": 1, "port_range_max": 256}, 400,
     "SecurityGroupInvalidIcmpValue",
     "Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255."),
    ({"protocol": "icmp", "port_range_min": 300, "port_range_max": 1}, 400,
     "SecurityGroupInvalidIcmpValue", "Invalid value for ICMP type (port_range_min) 300."),
    ({"protocol": "icmp", "port_range_min": -1, "port_range_max": 25}, 400, None,
     "Invalid value"),
    ({"protocol": "icmp", "port_range_max": 6}, 400, "SecurityGroupMissingIcmpType",
     "ICMP code (port-range-max) 6 is provided but ICMP type (port-range-min) is missing."),
    ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, 400,
     "SecurityGroupInvalidProtocolForPort", "Ports cannot be specified for protocol 47. "
     "Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE."),
    ({"port_range_min": 22, "port_range_max": 22}, 400,
     "SecurityGroupProtocolRequiredWithPorts",
     "Must also specify protocol if port range is given."),
    ({"ethertype": "bad_ethertype"}, 400, "SecurityGroupRuleInvalidEtherType",
     "Security group rule for ethertype 'bad_ethertype' not supported. Allowed values are "
     "['IPv4', 'IPv6']."),
    ({"direction": "sideways"}, 400, None,
     "Invalid input for direction. Reason: 'sideways' is not in ['ingress', 'egress']."),
    ({"remote_ip_prefix": "192.168.1./24"}, 400, "InvalidCIDR",
     "Invalid CIDR 192.168.1./24 given as IP prefix."),
    ({"remote_ip_prefix": "192.168.1.1/33"}, 400, "InvalidCIDR", None),
    ({"remote_ip_prefix": "bad_prefix"}, 400, "InvalidCIDR", None),
    ({"remote_ip_prefix": "256"}, 400, "InvalidCIDR", None),
    ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, 400,
     "SecurityGroupRuleParameterConflict", "Conflicting value ethertype IPv6 for CIDR 10.0.0.0/8"),
    ({"ethertype": "IPv4", "remote_ip_prefix": "2001:db8::/64"}, 400,
     "SecurityGroupRuleParameterConflict", None),
    ({"ethertype": "IPv4", "protocol": "ipv6-icmp"}, 400,
     "SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype IPv4 for protocol ipv6-icmp."),
    ({"remote_group_id": "bad_group_id"}, 404, "SecurityGroupNotFound",
     "Security group bad_group_id does not exist"),
    ({"remote_group_id": "5b2e2a22-6dab-4bfc-a6c0-4d4e3dcd3f8e"}, 404, "SecurityGroupNotFound",
     None),
    ({"remote_address_group_id": "5b2e2a22-6dab-4bfc-a6c0-4d4e3dcd3f8e"}, 404, None, None),
    ({"bogus": 1}, 400, None, "Unrecognized attribute(s) 'bogus'"),
    ({"direction": None}, 400, None, None),
])
def test_rule_bad_input(env, group, given, code, typ, text):
    body = rule_body(group["id"], **given)
    if given.get("direction", "x") is None:
        del body["security_group_rule"]["direction"]
    e = err(env.a.post("security-group-rules", body), code)
    if typ:
        assert e["type"] == typ, e
    if text:
        assert text in e["message"], e
    g = ok(env.a.get(f"security-groups/{group['id']}"))["security_group"]
    assert len(g["security_group_rules"]) == 2     # nothing half-made


def test_rule_remote_prefix_and_group_exclusive(env, group):
    other = mk_group(env.a)
    e = err(env.a.post("security-group-rules", rule_body(
        group["id"], remote_ip_prefix="10.0.0.0/24", remote_group_id=other["id"])), 400)
    assert e["type"] == "SecurityGroupMultipleRemoteEntites"
    r = ok(env.a.post("security-group-rules", rule_body(
        group["id"], protocol="udp", port_range_min=50, port_range_max=55,
        remote_group_id=other["id"])), 201)["security_group_rule"]
    assert r["remote_group_id"] == other["id"]
    # deleting the remote group deletes the rules that name it
    assert env.a.delete(f"security-groups/{other['id']}").status_code == 204
    err(env.a.get(f"security-group-rules/{r['id']}"), 404)


def test_rule_needs_group_and_direction(env):
    e = err(env.a.post("security-group-rules", {"security_group_rule": {"direction": "ingress"}}),
            400)
    assert "Required attribute 'security_group_id' not specified" in e["message"]
    e = err(env.a.post("security-group-rules", rule_body(str(uuid.uuid4()))), 404)
    assert e["type"] == "SecurityGroupNotFound"


def test_duplicate_rules(env, group):
    body = rule_body(group["id"], protocol="tcp", port_range_min=66, port_range_max=67)
    r = ok(env.a.post("security-group-rules", body), 201)["security_group_rule"]
    e = err(env.a.post("security-group-rules", body), 409)
    assert e["type"] == "SecurityGroupRuleExists"
    assert e["message"] == f"Security group rule already exists. Rule id is {r['id']}."
    # the same rule said differently: protocol by number, 0.0.0.0/0 = any
    e = err(env.a.post("security-group-rules", rule_body(
        group["id"], protocol="6", port_range_min=66, port_range_max=67,
        remote_ip_prefix="0.0.0.0/0")), 409)
    assert e["type"] == "SecurityGroupRuleExists"
    # the template egress rule exists already
    e = err(env.a.post("security-group-rules", rule_body(group["id"], direction="egress")), 409)
    assert e["type"] == "SecurityGroupRuleExists"
    # duplicates inside one bulk request
    e = err(env.a.post("security-group-rules", {"security_group_rules": [
        rule_body(group["id"], protocol="udp")["security_group_rule"],
        rule_body(group["id"], protocol="udp")["security_group_rule"]]}), 409)
    assert e["type"] == "DuplicateSecurityGroupRuleInPost"
    g = ok(env.a.get(f"security-groups/{group['id']}"))["security_group"]
    assert len(g["security_group_rules"]) == 3


def test_bulk_rules(env, group):
    out = ok(env.a.post("security-group-rules", {"security_group_rules": [
        rule_body(group["id"], protocol="tcp", port_range_min=80,
                  port_range_max=80)["security_group_rule"],
        rule_body(group["id"], protocol="tcp", port_range_min=443,
                  port_range_max=443)["security_group_rule"]]}), 201)["security_group_rules"]
    assert sorted(r["port_range_min"] for r in out) == [80, 443]
    other = mk_group(env.a)
    e = err(env.a.post("security-group-rules", {"security_group_rules": [
        rule_body(group["id"], protocol="udp")["security_group_rule"],
        rule_body(other["id"], protocol="udp")["security_group_rule"]]}), 400)
    assert e["type"] == "SecurityGroupNotSingleGroupRules"
    env.a.delete(f"security-groups/{other['id']}")


def test_rule_visibility(env):
    ga = mk_group(env.a)
    ra = ok(env.a.post("security-group-rules", rule_body(ga["id"], protocol="tcp")),
            201)["security_group_rule"]
    e = err(env.b.get(f"security-group-rules/{ra['id']}"), 404)
    assert e["type"] == "SecurityGroupRuleNotFound"
    err(env.b.delete(f"security-group-rules/{ra['id']}"), 404)
    rules_b = ok(env.b.get("security-group-rules"))["security_group_rules"]
    assert ra["id"] not in [r["id"] for r in rules_b]
    assert all(r["project_id"] == env.project_b for r in rules_b)
    # the admin adds a rule to A's group: A sees it, it is the admin's rule
    radm = ok(env.admin.post("security-group-rules", rule_body(ga["id"], protocol="udp")),
              201)["security_group_rule"]
    assert radm["project_id"] == env.admin_project
    assert ok(env.a.get(f"security-group-rules/{radm['id']}"))["security_group_rule"]
    assert env.a.delete(f"security-groups/{ga['id']}").status_code == 204


# ---------------------------------------------------------------- CLI

def test_openstack_cli(env, kumo):
    cli = openstack_cli(kumo, env.user_a, env.pw, env.project_a)
    name = "cli-" + uuid.uuid4().hex[:6]
    g = json.loads(cli("security", "group", "create", name, "--description", "from cli",
                       "-f", "json"))
    assert g["name"] == name and g["description"] == "from cli"
    listed = json.loads(cli("security", "group", "list", "-f", "json"))
    assert name in [x["Name"] for x in listed] and "default" in [x["Name"] for x in listed]
    icmp = json.loads(cli("security", "group", "rule", "create", "--proto", "icmp", name,
                          "-f", "json"))
    assert icmp["protocol"] == "icmp" and icmp["direction"] == "ingress"
    ssh = json.loads(cli("security", "group", "rule", "create", "--proto", "tcp",
                         "--dst-port", "22", name, "-f", "json"))
    assert ssh["port_range_min"] == 22 and ssh["port_range_max"] == 22
    rules = json.loads(cli("security", "group", "rule", "list", name, "-f", "json"))
    assert {icmp["id"], ssh["id"]} <= {r["ID"] for r in rules}
    shown = json.loads(cli("security", "group", "show", name, "-f", "json"))
    assert shown["id"] == g["id"]
    # the duplicate is refused with Neutron's words
    p = cli("security", "group", "rule", "create", "--proto", "tcp", "--dst-port", "22", name,
            check=False)
    assert p.returncode != 0 and "Security group rule already exists" in p.stderr
    cli("security", "group", "rule", "delete", icmp["id"])
    cli("security", "group", "delete", name)
    listed = json.loads(cli("security", "group", "list", "-f", "json"))
    assert name not in [x["Name"] for x in listed]
