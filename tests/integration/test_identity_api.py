"""Identity v3 resources against a real kumo (see conftest.py).

Covers domains, projects (+tags, hierarchy), users (+password change),
groups (+membership), roles (+implied roles), grants and role_assignments
(direct, effective, inherited, include_names, include_subtree), services,
endpoints, regions, policy for a non-admin member, validation errors, and
the token revocations that resource changes imply.
"""

import uuid

import pytest
import requests

from conftest import Api


# ---------------------------------------------------------------- helpers

def err(r, code):
    """Assert an OpenStack-shaped error and return its message."""
    assert r.status_code == code, f"{r.status_code} {r.text}"
    body = r.json()
    assert body["error"]["code"] == code
    assert body["error"]["title"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["message"]


def ok(r, code=200):
    assert r.status_code == code, f"{r.status_code} {r.text}"
    return r.json() if r.content else None


def check_list(kumo, body, key):
    assert set(body) == {key, "links"}, body.keys()
    assert body["links"]["previous"] is None and body["links"]["next"] is None
    assert body["links"]["self"].startswith(kumo.url + "/v3/")
    for item in body[key]:
        assert item["links"]["self"] == f"{kumo.url}/v3/{key}/{item['id']}"
    return body[key]


def ids(items):
    return {i["id"] for i in items}


def mk_domain(admin, name, **kw):
    return ok(admin.post("domains", {"domain": {"name": name, **kw}}), 201)["domain"]


def mk_project(admin, name, **kw):
    return ok(admin.post("projects", {"project": {"name": name, **kw}}), 201)["project"]


def mk_user(admin, name, **kw):
    return ok(admin.post("users", {"user": {"name": name, **kw}}), 201)["user"]


def mk_group(admin, name, **kw):
    return ok(admin.post("groups", {"group": {"name": name, **kw}}), 201)["group"]


def mk_role(admin, name, **kw):
    return ok(admin.post("roles", {"role": {"name": name, **kw}}), 201)["role"]


def role_id(admin, name):
    roles = ok(admin.get("roles", params={"name": name}))["roles"]
    assert len(roles) == 1, roles
    return roles[0]["id"]


def token_works(kumo, token, user_id):
    """Is the token still accepted?  (A user may always read itself.)"""
    r = Api(kumo.url, token).get(f"users/{user_id}")
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


@pytest.fixture
def member(kumo, admin, uniq):
    """A user with the member role on its own project."""
    project = mk_project(admin, "proj-" + uniq)
    user = mk_user(admin, "member-" + uniq, password="secret-" + uniq,
                   default_project_id=project["id"])
    ok(admin.put(f"projects/{project['id']}/users/{user['id']}/roles/"
                 f"{role_id(admin, 'member')}"), 204)
    token = kumo.token(user["id"], "secret-" + uniq, project=project["id"])
    return {"user": user, "project": project, "password": "secret-" + uniq,
            "api": Api(kumo.url, token), "token": token}


# ---------------------------------------------------------------- bootstrap

def test_bootstrap_state(kumo, admin):
    d = ok(admin.get("domains/default"))["domain"]
    assert d["name"] == "Default" and d["enabled"] is True
    assert d["links"]["self"] == kumo.url + "/v3/domains/default"
    for name in ("admin", "member", "reader", "ResellerAdmin"):
        role_id(admin, name)
    # admin => member => reader
    admin_id, member_id, reader_id = (role_id(admin, n) for n in ("admin", "member", "reader"))
    ok(admin.head(f"roles/{admin_id}/implies/{member_id}"), 204)
    ok(admin.head(f"roles/{member_id}/implies/{reader_id}"), 204)
    users = ok(admin.get("users", params={"name": "admin"}))["users"]
    assert len(users) == 1
    uid = users[0]["id"]
    assert "password" not in users[0]
    projects = ok(admin.get("projects", params={"name": "admin"}))["projects"]
    pid = projects[0]["id"]
    ok(admin.head(f"projects/{pid}/users/{uid}/roles/{admin_id}"), 204)
    ok(admin.head(f"system/users/{uid}/roles/{admin_id}"), 204)
    ok(admin.get(f"regions/{kumo.region}"))
    svc = ok(admin.get("services", params={"type": "identity"}))["services"]
    assert len(svc) == 1 and svc[0]["name"] == "keystone"
    eps = ok(admin.get("endpoints", params={"service_id": svc[0]["id"]}))["endpoints"]
    assert {e["interface"] for e in eps} == {"public", "internal", "admin"}
    assert all(e["url"] == kumo.url and e["region_id"] == kumo.region for e in eps)


def test_system_scoped_admin_token(kumo):
    api = kumo.client(kumo.admin_user, kumo.admin_password, system=True)
    ok(api.get("users"))
    ok(api.get("role_assignments"))


# ---------------------------------------------------------------- domains

def test_domain_crud(kumo, admin, uniq):
    d = mk_domain(admin, "dom-" + uniq, description="a domain", tags=["t1"])
    assert d["enabled"] is True and d["description"] == "a domain"
    assert d["tags"] == ["t1"] and d["options"] == {}
    assert d["links"]["self"] == f"{kumo.url}/v3/domains/{d['id']}"
    assert ok(admin.get(f"domains/{d['id']}"))["domain"] == d
    lst = check_list(kumo, ok(admin.get("domains")), "domains")
    assert d["id"] in ids(lst) and "default" in ids(lst)
    only = ok(admin.get("domains", params={"name": d["name"]}))["domains"]
    assert [x["id"] for x in only] == [d["id"]]
    upd = ok(admin.patch(f"domains/{d['id']}", {"domain": {"description": "new"}}))["domain"]
    assert upd["description"] == "new" and upd["name"] == d["name"]
    # conflict on name
    err(admin.post("domains", {"domain": {"name": d["name"]}}), 409)
    # enabled domains can't be deleted
    err(admin.delete(f"domains/{d['id']}"), 403)
    ok(admin.patch(f"domains/{d['id']}", {"domain": {"enabled": False}}))
    disabled = ok(admin.get("domains", params={"enabled": "false"}))["domains"]
    assert d["id"] in ids(disabled)
    ok(admin.delete(f"domains/{d['id']}"), 204)
    assert "Could not find domain" in err(admin.get(f"domains/{d['id']}"), 404)
    err(admin.delete(f"domains/{d['id']}"), 404)


def test_domain_validation(admin, uniq):
    err(admin.post("domains", {"domain": {"name": ""}}), 400)
    err(admin.post("domains", {"domain": {"name": "x" * 65}}), 400)
    err(admin.post("domains", {"domain": {"name": "   "}}), 400)
    err(admin.post("domains", {"domain": {"name": 42}}), 400)
    err(admin.post("domains", {"domain": {"name": "d" + uniq, "enabled": "maybe"}}), 400)
    err(admin.post("domains", {"domain": {}}), 400)
    err(admin.post("domains", {"nodomain": {"name": "x"}}), 400)
    err(admin.post("domains", {"domain": {"name": "d" + uniq}, "extra": 1}), 400)
    err(admin.post("domains", data="{not json", headers={"Content-Type": "application/json"}),
        400)
    d = mk_domain(admin, "dv-" + uniq)
    err(admin.patch(f"domains/{d['id']}", {"domain": {}}), 400)
    # explicit id
    x = mk_domain(admin, "dx-" + uniq, explicit_domain_id="explicit" + uniq)
    assert x["id"] == "explicit" + uniq
    err(admin.post("domains", {"domain": {"name": "dy-" + uniq,
                                          "explicit_domain_id": "explicit" + uniq}}), 409)


def test_domain_delete_cascades(kumo, admin, uniq):
    d = mk_domain(admin, "dc-" + uniq)
    p = mk_project(admin, "p", domain_id=d["id"])
    u = mk_user(admin, "u", domain_id=d["id"], password="pw")
    g = mk_group(admin, "g", domain_id=d["id"])
    r = mk_role(admin, "r-" + uniq, domain_id=d["id"])
    ok(admin.put(f"projects/{p['id']}/users/{u['id']}/roles/{role_id(admin, 'member')}"), 204)
    ok(admin.put(f"groups/{g['id']}/users/{u['id']}"), 204)
    ok(admin.patch(f"domains/{d['id']}", {"domain": {"enabled": False}}))
    ok(admin.delete(f"domains/{d['id']}"), 204)
    err(admin.get(f"projects/{p['id']}"), 404)
    err(admin.get(f"users/{u['id']}"), 404)
    err(admin.get(f"groups/{g['id']}"), 404)
    err(admin.get(f"roles/{r['id']}"), 404)
    ras = ok(admin.get("role_assignments", params={"user.id": u["id"]}))["role_assignments"]
    assert ras == []


# ---------------------------------------------------------------- projects

def test_project_crud_and_filters(kumo, admin, uniq):
    d = mk_domain(admin, "pd-" + uniq)
    p = mk_project(admin, "root-" + uniq, domain_id=d["id"], description="r")
    assert p["parent_id"] == d["id"] and p["domain_id"] == d["id"]
    assert p["is_domain"] is False and p["enabled"] is True and p["tags"] == []
    c = mk_project(admin, "child-" + uniq, domain_id=d["id"], parent_id=p["id"])
    assert c["parent_id"] == p["id"]
    # as in Keystone, a child without domain_id goes in the token's domain (here the
    # default one), so a parent in another domain is refused
    assert "different domain" in err(admin.post("projects", {"project": {
        "name": "child2-" + uniq, "parent_id": p["id"]}}), 400)
    c2 = mk_project(admin, "child2-" + uniq, domain_id=d["id"], parent_id=p["id"],
                    enabled=False)
    assert c2["domain_id"] == d["id"] and c2["enabled"] is False
    assert ok(admin.get(f"projects/{p['id']}"))["project"] == p

    lst = check_list(kumo, ok(admin.get("projects", params={"domain_id": d["id"]})), "projects")
    assert ids(lst) == {p["id"], c["id"], c2["id"]}
    assert ids(ok(admin.get("projects", params={"parent_id": p["id"]}))["projects"]) == \
        {c["id"], c2["id"]}
    assert ids(ok(admin.get("projects", params={"parent_id": d["id"]}))["projects"]) == \
        {p["id"]}
    assert ids(ok(admin.get("projects", params={"name": c["name"]}))["projects"]) == {c["id"]}
    assert ids(ok(admin.get("projects", params={"domain_id": d["id"], "enabled": "false"}))
               ["projects"]) == {c2["id"]}
    # domains are not listed as projects unless asked
    assert d["id"] not in ids(ok(admin.get("projects"))["projects"])
    assert d["id"] in ids(ok(admin.get("projects", params={"is_domain": "true"}))["projects"])

    # hierarchy queries
    got = ok(admin.get(f"projects/{c['id']}", params={"parents_as_ids": ""}))["project"]
    assert got["parents"] == {p["id"]: {d["id"]: None}}
    got = ok(admin.get(f"projects/{p['id']}", params={"subtree_as_ids": ""}))["project"]
    assert got["subtree"] == {c["id"]: None, c2["id"]: None}

    upd = ok(admin.patch(f"projects/{c['id']}",
                         {"project": {"name": "renamed-" + uniq, "description": "x"}}))
    assert upd["project"]["name"] == "renamed-" + uniq
    # parent_id can't change (403, as in Keystone), nor domain_id (400)
    assert "parent_id" in err(admin.patch(f"projects/{c['id']}",
                                          {"project": {"parent_id": d["id"]}}), 403)
    assert "Domain ID" in err(admin.patch(f"projects/{c['id']}",
                                          {"project": {"domain_id": "default"}}), 400)
    err(admin.patch(f"projects/{c['id']}", {"project": {"is_domain": True}}), 400)
    # conflicts and bad input
    err(admin.post("projects", {"project": {"name": p["name"], "domain_id": d["id"]}}), 409)
    err(admin.patch(f"projects/{c['id']}", {"project": {"name": c2["name"]}}), 409)
    err(admin.post("projects", {"project": {"name": ""}}), 400)
    err(admin.post("projects", {"project": {"name": "n" + uniq, "domain_id": "nope" + uniq}}),
        400)
    err(admin.post("projects", {"project": {"name": "n" + uniq, "parent_id": "nope" + uniq}}),
        400)
    err(admin.post("projects", {"project": {"name": "n" + uniq, "enabled": []}}), 400)
    # a parent with children can't be disabled or deleted
    err(admin.patch(f"projects/{p['id']}", {"project": {"enabled": False}}), 403)
    assert "not a leaf" in err(admin.delete(f"projects/{p['id']}"), 403)
    ok(admin.delete(f"projects/{c['id']}"), 204)
    ok(admin.delete(f"projects/{c2['id']}"), 204)
    ok(admin.delete(f"projects/{p['id']}"), 204)
    assert "Could not find project" in err(admin.get(f"projects/{p['id']}"), 404)
    err(admin.delete(f"projects/{p['id']}"), 404)
    err(admin.patch(f"projects/{p['id']}", {"project": {"name": "zz"}}), 404)


def test_project_cascade_delete(admin, uniq):
    p = mk_project(admin, "cas-" + uniq)
    c = mk_project(admin, "cas-c-" + uniq, parent_id=p["id"], enabled=False)
    err(admin.delete(f"projects/{p['id']}", params={"cascade": "false"}), 403)
    ok(admin.delete(f"projects/{p['id']}", params={"cascade": "true"}), 204)
    err(admin.get(f"projects/{c['id']}"), 404)


def test_project_in_disabled_branch(admin, uniq):
    p = mk_project(admin, "off-" + uniq, enabled=False)
    err(admin.post("projects", {"project": {"name": "under-" + uniq, "parent_id": p["id"]}}),
        400)


def test_project_is_domain(kumo, admin, uniq):
    p = mk_project(admin, "isdom-" + uniq, is_domain=True)
    assert p["is_domain"] is True and p["domain_id"] is None and p["parent_id"] is None
    assert p["id"] in ids(ok(admin.get("domains"))["domains"])
    assert p["id"] in ids(ok(admin.get("projects", params={"is_domain": True}))["projects"])
    # usable as a domain
    mk_project(admin, "inside", domain_id=p["id"])
    err(admin.delete(f"projects/{p['id']}"), 403)
    ok(admin.patch(f"projects/{p['id']}", {"project": {"enabled": False}}))
    ok(admin.delete(f"projects/{p['id']}"), 204)
    err(admin.get(f"domains/{p['id']}"), 404)


def test_project_tags(kumo, admin, uniq):
    p = mk_project(admin, "tags-" + uniq, tags=["a", "b"])
    assert sorted(p["tags"]) == ["a", "b"]
    body = ok(admin.get(f"projects/{p['id']}/tags"))
    assert sorted(body["tags"]) == ["a", "b"] and "self" in body["links"]
    body = ok(admin.put(f"projects/{p['id']}/tags", {"tags": ["x", "y"]}))
    assert sorted(body["tags"]) == ["x", "y"]
    r = admin.put(f"projects/{p['id']}/tags/z")
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/v3/projects/{p['id']}/tags/z")
    ok(admin.get(f"projects/{p['id']}/tags/z"), 204)
    ok(admin.head(f"projects/{p['id']}/tags/x"), 204)
    err(admin.get(f"projects/{p['id']}/tags/nope"), 404)
    assert sorted(ok(admin.get(f"projects/{p['id']}"))["project"]["tags"]) == ["x", "y", "z"]
    # list filters
    q = mk_project(admin, "tags2-" + uniq, tags=["x"])
    found = ids(ok(admin.get("projects", params={"tags": "x,z"}))["projects"])
    assert p["id"] in found and q["id"] not in found
    found = ids(ok(admin.get("projects", params={"tags-any": "x,z"}))["projects"])
    assert {p["id"], q["id"]} <= found
    found = ids(ok(admin.get("projects", params={"not-tags-any": "z"}))["projects"])
    assert q["id"] in found and p["id"] not in found
    ok(admin.delete(f"projects/{p['id']}/tags/z"), 204)
    err(admin.delete(f"projects/{p['id']}/tags/z"), 404)
    ok(admin.delete(f"projects/{p['id']}/tags"), 204)
    assert ok(admin.get(f"projects/{p['id']}/tags"))["tags"] == []
    # invalid tags
    err(admin.put(f"projects/{p['id']}/tags", {"tags": ["a,b"]}), 400)
    err(admin.put(f"projects/{p['id']}/tags", {"tags": ["a", "a"]}), 400)
    err(admin.put(f"projects/{p['id']}/tags", {"tags": [str(i) for i in range(81)]}), 400)
    err(admin.put(f"projects/{p['id']}/tags", {"tags": "a"}), 400)
    err(admin.post("projects", {"project": {"name": "t3" + uniq, "tags": ["x" * 256]}}), 400)


# ---------------------------------------------------------------- users

def test_user_crud(kumo, admin, uniq):
    u = mk_user(admin, "user-" + uniq, password="pw-" + uniq, email="u@example.com",
                description="desc")
    assert "password" not in u
    assert u["domain_id"] == "default" and u["enabled"] is True
    assert u["email"] == "u@example.com" and u["description"] == "desc"
    assert u["password_expires_at"] is None and u["options"] == {}
    assert "default_project_id" not in u
    assert ok(admin.get(f"users/{u['id']}"))["user"] == u
    lst = check_list(kumo, ok(admin.get("users")), "users")
    assert u["id"] in ids(lst)
    assert all("password" not in x for x in lst)
    assert ids(ok(admin.get("users", params={"name": u["name"]}))["users"]) == {u["id"]}
    upd = ok(admin.patch(f"users/{u['id']}", {"user": {"email": "v@example.com",
                                                      "enabled": False}}))["user"]
    assert upd["email"] == "v@example.com" and upd["enabled"] is False
    assert u["id"] in ids(ok(admin.get("users", params={"enabled": "0"}))["users"])
    assert u["id"] not in ids(ok(admin.get("users", params={"enabled": "true"}))["users"])
    err(admin.post("users", {"user": {"name": u["name"]}}), 409)
    ok(admin.delete(f"users/{u['id']}"), 204)
    assert err(admin.get(f"users/{u['id']}"), 404) == f"Could not find user: {u['id']}."
    err(admin.delete(f"users/{u['id']}"), 404)


def test_user_domains_and_validation(admin, uniq):
    d = mk_domain(admin, "ud-" + uniq)
    a = mk_user(admin, "same-" + uniq)
    b = mk_user(admin, "same-" + uniq, domain_id=d["id"])     # same name, other domain
    assert a["id"] != b["id"]
    assert ids(ok(admin.get("users", params={"domain_id": d["id"]}))["users"]) == {b["id"]}
    err(admin.post("users", {"user": {"name": "x" + uniq, "domain_id": "nope" + uniq}}), 404)
    err(admin.post("users", {"user": {"name": ""}}), 400)
    err(admin.post("users", {"user": {"name": "x" * 256}}), 400)
    err(admin.post("users", {"user": {"name": "x" + uniq, "enabled": "nope"}}), 400)
    err(admin.post("users", {"user": {"name": "x" + uniq, "password": 12}}), 400)
    err(admin.post("users", {"user": {"password": "x"}}), 400)
    err(admin.patch(f"users/{a['id']}", {"user": {"domain_id": d["id"]}}), 400)
    err(admin.patch(f"users/{a['id']}", {"user": {}}), 400)
    err(admin.post("users", {"user": {"name": "y" + uniq, "default_project_id": d["id"]}}),
        400)
    # booleans must be JSON booleans (Keystone's schema: "type": "boolean")
    assert "is not of type 'boolean'" in err(
        admin.post("users", {"user": {"name": "lax-" + uniq, "enabled": "false"}}), 400)


def test_user_password_change(kumo, admin, uniq):
    u = mk_user(admin, "pwc-" + uniq, password="old-" + uniq)
    tok = kumo.token(u["id"], "old-" + uniq)
    assert token_works(kumo, tok, u["id"])
    url = f"{kumo.url}/v3/users/{u['id']}/password"
    r = requests.post(url, json={"user": {"original_password": "wrong", "password": "n"}})
    err(r, 401)
    r = requests.post(url, json={"user": {"original_password": "old-" + uniq}})
    err(r, 400)
    r = requests.post(url, json={"user": {"original_password": "old-" + uniq,
                                          "password": "new-" + uniq}},
                      headers={"X-Auth-Token": tok})
    assert r.status_code == 204, r.text
    assert not token_works(kumo, tok, u["id"])
    assert kumo.token_response(u["id"], "old-" + uniq).status_code == 401
    kumo.token(u["id"], "new-" + uniq)
    # unknown user: same answer as a wrong password
    r = requests.post(f"{kumo.url}/v3/users/{'0' * 32}/password",
                      json={"user": {"original_password": "a", "password": "b"}})
    err(r, 401)


def test_user_disable_and_delete_revoke_tokens(kumo, admin, uniq):
    u = mk_user(admin, "rev-" + uniq, password="pw")
    tok = kumo.token(u["id"], "pw")
    assert token_works(kumo, tok, u["id"])
    ok(admin.patch(f"users/{u['id']}", {"user": {"enabled": False}}))
    assert not token_works(kumo, tok, u["id"])
    assert kumo.token_response(u["id"], "pw").status_code == 401
    ok(admin.patch(f"users/{u['id']}", {"user": {"enabled": True}}))
    tok = kumo.token(u["id"], "pw")
    # admin resetting the password revokes too
    ok(admin.patch(f"users/{u['id']}", {"user": {"password": "pw2"}}))
    assert not token_works(kumo, tok, u["id"])
    tok = kumo.token(u["id"], "pw2")
    ok(admin.delete(f"users/{u['id']}"), 204)
    assert Api(kumo.url, tok).get(f"users/{u['id']}").status_code in (401, 404)


def test_user_projects_and_groups(kumo, admin, uniq):
    u = mk_user(admin, "upg-" + uniq)
    p1 = mk_project(admin, "upg1-" + uniq)
    p2 = mk_project(admin, "upg2-" + uniq)
    g = mk_group(admin, "upg-" + uniq)
    member_id = role_id(admin, "member")
    ok(admin.put(f"projects/{p1['id']}/users/{u['id']}/roles/{member_id}"), 204)
    ok(admin.put(f"projects/{p2['id']}/groups/{g['id']}/roles/{member_id}"), 204)
    assert ok(admin.get(f"users/{u['id']}/projects"))["projects"] == [
        ok(admin.get(f"projects/{p1['id']}"))["project"]]
    ok(admin.put(f"groups/{g['id']}/users/{u['id']}"), 204)
    got = check_list(kumo, ok(admin.get(f"users/{u['id']}/projects")), "projects")
    assert ids(got) == {p1["id"], p2["id"]}
    assert ids(ok(admin.get(f"users/{u['id']}/projects", params={"name": p2["name"]}))
               ["projects"]) == {p2["id"]}
    groups = check_list(kumo, ok(admin.get(f"users/{u['id']}/groups")), "groups")
    assert ids(groups) == {g["id"]}
    err(admin.get(f"users/{'0' * 32}/projects"), 404)


# ---------------------------------------------------------------- groups

def test_group_crud_and_membership(kumo, admin, uniq):
    g = mk_group(admin, "grp-" + uniq, description="d", color="blue")
    assert g["domain_id"] == "default" and g["description"] == "d" and g["color"] == "blue"
    assert ok(admin.get(f"groups/{g['id']}"))["group"] == g
    lst = check_list(kumo, ok(admin.get("groups", params={"name": g["name"]})), "groups")
    assert ids(lst) == {g["id"]}
    err(admin.post("groups", {"group": {"name": g["name"]}}), 409)
    err(admin.post("groups", {"group": {"name": "x", "domain_id": "nope" + uniq}}), 404)
    err(admin.post("groups", {"group": {"name": ""}}), 400)
    upd = ok(admin.patch(f"groups/{g['id']}", {"group": {"description": "e"}}))["group"]
    assert upd["description"] == "e" and upd["color"] == "blue"

    u1, u2 = mk_user(admin, "gm1-" + uniq), mk_user(admin, "gm2-" + uniq)
    ok(admin.put(f"groups/{g['id']}/users/{u1['id']}"), 204)
    ok(admin.put(f"groups/{g['id']}/users/{u1['id']}"), 204)     # idempotent
    ok(admin.put(f"groups/{g['id']}/users/{u2['id']}"), 204)
    ok(admin.head(f"groups/{g['id']}/users/{u1['id']}"), 204)
    ok(admin.get(f"groups/{g['id']}/users/{u1['id']}"), 204)
    users = check_list(kumo, ok(admin.get(f"groups/{g['id']}/users")), "users")
    assert ids(users) == {u1["id"], u2["id"]}
    ok(admin.delete(f"groups/{g['id']}/users/{u2['id']}"), 204)
    assert admin.head(f"groups/{g['id']}/users/{u2['id']}").status_code == 404
    err(admin.delete(f"groups/{g['id']}/users/{u2['id']}"), 404)
    err(admin.put(f"groups/{g['id']}/users/{'0' * 32}"), 404)
    err(admin.put(f"groups/{'0' * 32}/users/{u1['id']}"), 404)
    ok(admin.delete(f"groups/{g['id']}"), 204)
    err(admin.get(f"groups/{g['id']}"), 404)
    assert ok(admin.get(f"users/{u1['id']}/groups"))["groups"] == []


# ---------------------------------------------------------------- roles

def test_role_crud(kumo, admin, uniq):
    r = mk_role(admin, "Role-" + uniq, description="a role")
    assert r["domain_id"] is None and r["description"] == "a role"
    assert ok(admin.get(f"roles/{r['id']}"))["role"] == r
    lst = check_list(kumo, ok(admin.get("roles")), "roles")
    assert r["id"] in ids(lst)
    # names are unique case-insensitively (per domain scope)
    msg = err(admin.post("roles", {"role": {"name": "ROLE-" + uniq}}), 409)
    assert msg.startswith("Conflict occurred attempting to store role - Duplicate entry")
    d = mk_domain(admin, "rd-" + uniq)
    dr = mk_role(admin, "role-" + uniq, domain_id=d["id"])    # other scope: fine
    assert dr["domain_id"] == d["id"]
    assert dr["id"] not in ids(ok(admin.get("roles"))["roles"])
    assert ok(admin.get("roles", params={"domain_id": d["id"]}))["roles"] == [dr]
    upd = ok(admin.patch(f"roles/{r['id']}", {"role": {"name": "Renamed-" + uniq}}))["role"]
    assert upd["name"] == "Renamed-" + uniq
    err(admin.patch(f"roles/{r['id']}", {"role": {"domain_id": d["id"]}}), 400)
    err(admin.post("roles", {"role": {"name": ""}}), 400)
    err(admin.post("roles", {"role": {}}), 400)
    ok(admin.delete(f"roles/{r['id']}"), 204)
    assert err(admin.get(f"roles/{r['id']}"), 404) == f"Could not find role: {r['id']}."


def test_implied_roles(kumo, admin, uniq):
    a, b, c = (mk_role(admin, f"imp{i}-{uniq}") for i in range(3))
    r = admin.put(f"roles/{a['id']}/implies/{b['id']}")
    body = ok(r, 201)
    inf = body["role_inference"]
    assert inf["prior_role"]["id"] == a["id"] and inf["implies"]["id"] == b["id"]
    for k in ("prior_role", "implies"):
        assert set(inf[k]) == {"id", "name", "links"}
    ok(admin.put(f"roles/{a['id']}/implies/{c['id']}"), 201)
    got = ok(admin.get(f"roles/{a['id']}/implies/{b['id']}"))
    assert got["role_inference"] == inf
    ok(admin.head(f"roles/{a['id']}/implies/{b['id']}"), 204)
    lst = ok(admin.get(f"roles/{a['id']}/implies"))["role_inference"]
    assert {x["id"] for x in lst["implies"]} == {b["id"], c["id"]}
    infs = ok(admin.get("role_inferences"))["role_inferences"]
    mine = [x for x in infs if x["prior_role"]["id"] == a["id"]]
    assert len(mine) == 1 and {x["id"] for x in mine[0]["implies"]} == {b["id"], c["id"]}
    ok(admin.delete(f"roles/{a['id']}/implies/{c['id']}"), 204)
    err(admin.get(f"roles/{a['id']}/implies/{c['id']}"), 404)
    err(admin.delete(f"roles/{a['id']}/implies/{c['id']}"), 404)
    err(admin.put(f"roles/{a['id']}/implies/{'0' * 32}"), 404)
    # admin can't be implied; a global role can't imply a domain role
    err(admin.put(f"roles/{a['id']}/implies/{role_id(admin, 'admin')}"), 403)
    d = mk_domain(admin, "imd-" + uniq)
    dr = mk_role(admin, "dr-" + uniq, domain_id=d["id"])
    err(admin.put(f"roles/{a['id']}/implies/{dr['id']}"), 403)
    ok(admin.put(f"roles/{dr['id']}/implies/{a['id']}"), 201)
    # deleting a role removes its rules
    ok(admin.delete(f"roles/{b['id']}"), 204)
    assert ok(admin.get(f"roles/{a['id']}/implies"))["role_inference"]["implies"] == []


# ---------------------------------------------------------------- grants

GRANT_KINDS = [
    ("projects", "users"), ("projects", "groups"), ("domains", "users"), ("domains", "groups"),
]


@pytest.mark.parametrize("target,actor", GRANT_KINDS)
def test_grants(kumo, admin, uniq, target, actor):
    t = mk_project(admin, "gt-" + uniq) if target == "projects" else mk_domain(admin,
                                                                              "gt-" + uniq)
    a = mk_user(admin, "ga-" + uniq) if actor == "users" else mk_group(admin, "ga-" + uniq)
    r = mk_role(admin, "gr-" + uniq)
    base = f"{target}/{t['id']}/{actor}/{a['id']}/roles"
    assert admin.head(f"{base}/{r['id']}").status_code == 404
    ok(admin.put(f"{base}/{r['id']}"), 204)
    ok(admin.put(f"{base}/{r['id']}"), 204)
    ok(admin.head(f"{base}/{r['id']}"), 204)
    ok(admin.get(f"{base}/{r['id']}"), 204)
    roles = check_list(kumo, ok(admin.get(base)), "roles")
    assert ids(roles) == {r["id"]}
    key = "user.id" if actor == "users" else "group.id"
    scope = "scope.project.id" if target == "projects" else "scope.domain.id"
    ras = ok(admin.get("role_assignments", params={key: a["id"]}))["role_assignments"]
    assert len(ras) == 1
    ra = ras[0]
    assert ra["role"] == {"id": r["id"]}
    assert ra[actor[:-1]] == {"id": a["id"]}
    assert ra["scope"] == {target[:-1]: {"id": t["id"]}}
    assert ra["links"]["assignment"] == f"{kumo.url}/v3/{base}/{r['id']}"
    ras = ok(admin.get("role_assignments", params={scope: t["id"]}))["role_assignments"]
    assert len(ras) == 1
    ok(admin.delete(f"{base}/{r['id']}"), 204)
    msg = err(admin.delete(f"{base}/{r['id']}"), 404)
    assert msg.startswith("Could not find role assignment")
    assert ok(admin.get(base))["roles"] == []
    err(admin.put(f"{base}/{'0' * 32}"), 404)
    err(admin.put(f"{target}/{'0' * 32}/{actor}/{a['id']}/roles/{r['id']}"), 404)
    err(admin.put(f"{target}/{t['id']}/{actor}/{'0' * 32}/roles/{r['id']}"), 404)


def test_system_grants(kumo, admin, uniq):
    u = mk_user(admin, "sys-" + uniq, password="pw")
    g = mk_group(admin, "sys-" + uniq)
    reader = role_id(admin, "reader")
    ok(admin.put(f"system/users/{u['id']}/roles/{reader}"), 204)
    ok(admin.put(f"system/groups/{g['id']}/roles/{reader}"), 204)
    ok(admin.head(f"system/users/{u['id']}/roles/{reader}"), 204)
    assert ids(ok(admin.get(f"system/users/{u['id']}/roles"))["roles"]) == {reader}
    assert ids(ok(admin.get(f"system/groups/{g['id']}/roles"))["roles"]) == {reader}
    ras = ok(admin.get("role_assignments", params={"user.id": u["id"],
                                                    "scope.system": "all"}))
    assert [x["scope"] for x in ras["role_assignments"]] == [{"system": {"all": True}}]
    assert ras["role_assignments"][0]["links"]["assignment"] == \
        f"{kumo.url}/v3/system/users/{u['id']}/roles/{reader}"
    # a system reader reads users but can't create any
    api = kumo.client(u["id"], "pw", system=True)
    ok(api.get("users"))
    err(api.post("users", {"user": {"name": "nope-" + uniq}}), 403)
    ok(admin.delete(f"system/users/{u['id']}/roles/{reader}"), 204)
    err(admin.delete(f"system/users/{u['id']}/roles/{reader}"), 404)
    ok(admin.delete(f"system/groups/{g['id']}/roles/{reader}"), 204)


def test_effective_assignments(kumo, admin, uniq):
    d = mk_domain(admin, "eff-" + uniq)
    parent = mk_project(admin, "effp-" + uniq, domain_id=d["id"])
    leaf = mk_project(admin, "effl-" + uniq, domain_id=d["id"], parent_id=parent["id"])
    u = mk_user(admin, "effu-" + uniq, domain_id=d["id"], password="pw")
    g = mk_group(admin, "effg-" + uniq, domain_id=d["id"])
    ok(admin.put(f"groups/{g['id']}/users/{u['id']}"), 204)
    prior, implied = mk_role(admin, "effr1-" + uniq), mk_role(admin, "effr2-" + uniq)
    ok(admin.put(f"roles/{prior['id']}/implies/{implied['id']}"), 201)
    ok(admin.put(f"projects/{leaf['id']}/groups/{g['id']}/roles/{prior['id']}"), 204)

    # direct: one group assignment
    direct = ok(admin.get("role_assignments", params={"scope.project.id": leaf["id"]}))
    assert len(direct["role_assignments"]) == 1
    assert direct["role_assignments"][0]["group"]["id"] == g["id"]
    # effective: the member gets the role and the implied one
    eff = ok(admin.get("role_assignments", params={"scope.project.id": leaf["id"],
                                                    "user.id": u["id"], "effective": ""}))
    ras = eff["role_assignments"]
    assert {x["role"]["id"] for x in ras} == {prior["id"], implied["id"]}
    for x in ras:
        assert x["user"]["id"] == u["id"]
        assert x["links"]["membership"] == f"{kumo.url}/v3/groups/{g['id']}/users/{u['id']}"
        assert x["links"]["assignment"] == (
            f"{kumo.url}/v3/projects/{leaf['id']}/groups/{g['id']}/roles/{prior['id']}")
    assert any("prior_role" in x["links"] for x in ras)
    # "?effective" as a bare flag, as python-keystoneclient sends it
    bare = ok(admin.get(f"role_assignments?effective&scope.project.id={leaf['id']}"
                        f"&user.id={u['id']}&include_names"))["role_assignments"]
    assert {x["role"]["name"] for x in bare} == {prior["name"], implied["name"]}
    # the token gets both roles
    tok = kumo.token_response(u["id"], "pw", project=leaf["id"])
    assert tok.status_code == 201, tok.text
    roles = {x["id"] for x in tok.json()["token"]["roles"]}
    assert {prior["id"], implied["id"]} <= roles

    # inherited from the domain: reaches both projects, not the domain itself
    reader = role_id(admin, "reader")
    ok(admin.put(f"OS-INHERIT/domains/{d['id']}/users/{u['id']}/roles/{reader}"
                 "/inherited_to_projects"), 204)
    ok(admin.head(f"OS-INHERIT/domains/{d['id']}/users/{u['id']}/roles/{reader}"
                  "/inherited_to_projects"), 204)
    lst = ok(admin.get(f"OS-INHERIT/domains/{d['id']}/users/{u['id']}/roles"
                       "/inherited_to_projects"))["roles"]
    assert ids(lst) == {reader}
    # not a direct domain grant
    assert ok(admin.get(f"domains/{d['id']}/users/{u['id']}/roles"))["roles"] == []
    eff = ok(admin.get("role_assignments", params={"user.id": u["id"], "effective": "",
                                                    "role.id": reader}))["role_assignments"]
    assert {x["scope"]["project"]["id"] for x in eff} == {parent["id"], leaf["id"]}
    for x in eff:
        assert x["scope"]["OS-INHERIT:inherited_to"] == "projects"
        assert x["links"]["assignment"].endswith(
            f"/v3/OS-INHERIT/domains/{d['id']}/users/{u['id']}/roles/{reader}"
            "/inherited_to_projects")
    direct = ok(admin.get("role_assignments", params={
        "user.id": u["id"], "scope.OS-INHERIT:inherited_to": "projects"}))["role_assignments"]
    assert len(direct) == 1 and direct[0]["scope"]["domain"]["id"] == d["id"]
    ok(admin.delete(f"OS-INHERIT/domains/{d['id']}/users/{u['id']}/roles/{reader}"
                    "/inherited_to_projects"), 204)

    # inherited from a project: reaches the subtree only
    ok(admin.put(f"OS-INHERIT/projects/{parent['id']}/users/{u['id']}/roles/{reader}"
                 "/inherited_to_projects"), 204)
    eff = ok(admin.get("role_assignments", params={"user.id": u["id"], "effective": "",
                                                    "role.id": reader}))["role_assignments"]
    assert {x["scope"]["project"]["id"] for x in eff} == {leaf["id"]}
    # include_subtree on the parent sees the leaf's assignments
    sub = ok(admin.get("role_assignments", params={"scope.project.id": parent["id"],
                                                    "include_subtree": "true"}))
    assert any(x["scope"].get("project", {}).get("id") == leaf["id"]
               for x in sub["role_assignments"])
    err(admin.get("role_assignments", params={"include_subtree": "true"}), 400)

    # include_names
    named = ok(admin.get("role_assignments", params={"scope.project.id": leaf["id"],
                                                      "include_names": "true"}))
    x = named["role_assignments"][0]
    assert x["group"]["name"] == g["name"] and x["group"]["domain"]["id"] == d["id"]
    assert x["scope"]["project"]["name"] == leaf["name"]
    assert x["scope"]["project"]["domain"]["name"] == d["name"]
    assert x["role"]["name"] == prior["name"]

    # users/{id}/projects sees effective projects
    assert {parent["id"], leaf["id"]} >= ids(ok(admin.get(f"users/{u['id']}/projects"))
                                             ["projects"]) >= {leaf["id"]}

    # filter combinations Keystone refuses
    err(admin.get("role_assignments", params={"user.id": u["id"], "group.id": g["id"]}), 400)
    err(admin.get("role_assignments", params={"scope.project.id": leaf["id"],
                                               "scope.domain.id": d["id"]}), 400)
    err(admin.get("role_assignments", params={"group.id": g["id"], "effective": ""}), 400)
    err(admin.get("role_assignments", params={"scope.system": "all",
                                               "scope.domain.id": d["id"]}), 400)


def test_domain_roles_are_not_effective(admin, uniq):
    d = mk_domain(admin, "dre-" + uniq)
    p = mk_project(admin, "drep-" + uniq, domain_id=d["id"])
    u = mk_user(admin, "dreu-" + uniq, domain_id=d["id"])
    dr = mk_role(admin, "drr-" + uniq, domain_id=d["id"])
    g = mk_role(admin, "drg-" + uniq)
    ok(admin.put(f"roles/{dr['id']}/implies/{g['id']}"), 201)
    ok(admin.put(f"projects/{p['id']}/users/{u['id']}/roles/{dr['id']}"), 204)
    eff = ok(admin.get("role_assignments", params={"user.id": u["id"], "effective": "",
                                                    "scope.project.id": p["id"]}))
    assert [x["role"]["id"] for x in eff["role_assignments"]] == [g["id"]]
    # a domain role can't be granted on a project of another domain
    other = mk_project(admin, "dro-" + uniq)
    err(admin.put(f"projects/{other['id']}/users/{u['id']}/roles/{dr['id']}"), 403)


def test_removing_grant_revokes_token(kumo, admin, uniq):
    p = mk_project(admin, "rg-" + uniq)
    u = mk_user(admin, "rg-" + uniq, password="pw")
    member_id = role_id(admin, "member")
    ok(admin.put(f"projects/{p['id']}/users/{u['id']}/roles/{member_id}"), 204)
    tok = kumo.token(u["id"], "pw", project=p["id"])
    assert token_works(kumo, tok, u["id"])
    ok(admin.delete(f"projects/{p['id']}/users/{u['id']}/roles/{member_id}"), 204)
    assert not token_works(kumo, tok, u["id"])
    assert kumo.token_response(u["id"], "pw", project=p["id"]).status_code == 401


def test_project_disable_and_delete_revoke_tokens(kumo, admin, uniq):
    p = mk_project(admin, "pr-" + uniq)
    u = mk_user(admin, "pr-" + uniq, password="pw")
    ok(admin.put(f"projects/{p['id']}/users/{u['id']}/roles/{role_id(admin, 'member')}"), 204)
    tok = kumo.token(u["id"], "pw", project=p["id"])
    ok(admin.patch(f"projects/{p['id']}", {"project": {"enabled": False}}))
    assert not token_works(kumo, tok, u["id"])
    ok(admin.patch(f"projects/{p['id']}", {"project": {"enabled": True}}))
    tok = kumo.token(u["id"], "pw", project=p["id"])
    ok(admin.delete(f"projects/{p['id']}"), 204)
    assert not token_works(kumo, tok, u["id"])


def test_domain_disable_revokes_tokens(kumo, admin, uniq):
    d = mk_domain(admin, "drv-" + uniq)
    u = mk_user(admin, "drv-" + uniq, domain_id=d["id"], password="pw")
    ok(admin.put(f"domains/{d['id']}/users/{u['id']}/roles/{role_id(admin, 'member')}"), 204)
    tok = kumo.token(u["id"], "pw", domain=d["id"])
    assert token_works(kumo, tok, u["id"])
    ok(admin.patch(f"domains/{d['id']}", {"domain": {"enabled": False}}))
    assert not token_works(kumo, tok, u["id"])


def test_removing_group_member_revokes(kumo, admin, uniq):
    p = mk_project(admin, "gmr-" + uniq)
    u = mk_user(admin, "gmr-" + uniq, password="pw")
    g = mk_group(admin, "gmr-" + uniq)
    ok(admin.put(f"groups/{g['id']}/users/{u['id']}"), 204)
    ok(admin.put(f"projects/{p['id']}/groups/{g['id']}/roles/{role_id(admin, 'member')}"), 204)
    tok = kumo.token(u["id"], "pw", project=p["id"])
    ok(admin.delete(f"groups/{g['id']}/users/{u['id']}"), 204)
    assert not token_works(kumo, tok, u["id"])
    assert kumo.token_response(u["id"], "pw", project=p["id"]).status_code == 401


# ---------------------------------------------------------------- catalog

def test_services(kumo, admin, uniq):
    s = ok(admin.post("services", {"service": {"type": "t-" + uniq, "name": "svc",
                                               "description": "d"}}), 201)["service"]
    assert s["enabled"] is True and s["name"] == "svc" and s["type"] == "t-" + uniq
    assert ok(admin.get(f"services/{s['id']}"))["service"] == s
    lst = check_list(kumo, ok(admin.get("services", params={"type": "t-" + uniq})),
                     "services")
    assert ids(lst) == {s["id"]}
    upd = ok(admin.patch(f"services/{s['id']}", {"service": {"enabled": False}}))["service"]
    assert upd["enabled"] is False and upd["name"] == "svc"
    err(admin.post("services", {"service": {"name": "no type"}}), 400)
    err(admin.post("services", {"service": {"type": "x", "enabled": "yes"}}), 400)
    err(admin.patch(f"services/{s['id']}", {"service": {}}), 400)
    e = ok(admin.post("endpoints", {"endpoint": {"service_id": s["id"], "interface": "public",
                                                 "url": "http://x"}}), 201)["endpoint"]
    ok(admin.delete(f"services/{s['id']}"), 204)
    err(admin.get(f"services/{s['id']}"), 404)
    err(admin.get(f"endpoints/{e['id']}"), 404)     # endpoints go with their service


def test_endpoints(kumo, admin, uniq):
    s = ok(admin.post("services", {"service": {"type": "e-" + uniq}}), 201)["service"]
    e = ok(admin.post("endpoints", {"endpoint": {
        "service_id": s["id"], "interface": "internal", "url": "http://10.0.0.1:9000/v1",
        "region_id": kumo.region}}), 201)["endpoint"]
    assert e["enabled"] is True and e["region_id"] == kumo.region and e["region"] == kumo.region
    assert ok(admin.get(f"endpoints/{e['id']}"))["endpoint"] == e
    by_service = ok(admin.get("endpoints", params={"service_id": s["id"]}))["endpoints"]
    assert ids(by_service) == {e["id"]}
    assert e["id"] in ids(ok(admin.get("endpoints", params={"interface": "internal"}))
                          ["endpoints"])
    assert e["id"] not in ids(ok(admin.get("endpoints", params={"interface": "admin"}))
                              ["endpoints"])
    assert e["id"] in ids(ok(admin.get("endpoints", params={"region_id": kumo.region}))
                          ["endpoints"])
    upd = ok(admin.patch(f"endpoints/{e['id']}", {"endpoint": {"url": "http://y:1",
                                                               "interface": "admin"}}))
    assert upd["endpoint"]["url"] == "http://y:1" and upd["endpoint"]["interface"] == "admin"
    # validation
    base = {"service_id": s["id"], "interface": "public", "url": "http://z"}
    err(admin.post("endpoints", {"endpoint": {**base, "interface": "private"}}), 400)
    err(admin.post("endpoints", {"endpoint": {**base, "url": "no-scheme"}}), 400)
    err(admin.post("endpoints", {"endpoint": {**base, "enabled": "False"}}), 400)
    err(admin.post("endpoints", {"endpoint": {**base, "service_id": "0" * 32}}), 400)
    err(admin.post("endpoints", {"endpoint": {**base, "region_id": "nowhere-" + uniq}}), 400)
    err(admin.post("endpoints", {"endpoint": {"interface": "public", "url": "http://z"}}), 400)
    err(admin.patch(f"endpoints/{e['id']}", {"endpoint": {"enabled": "True"}}), 400)
    # legacy "region" creates the region
    legacy = ok(admin.post("endpoints", {"endpoint": {**base, "region": "leg-" + uniq}}),
                201)["endpoint"]
    assert legacy["region_id"] == "leg-" + uniq
    ok(admin.get(f"regions/leg-{uniq}"))
    ok(admin.delete(f"endpoints/{e['id']}"), 204)
    err(admin.delete(f"endpoints/{e['id']}"), 404)


def test_regions(kumo, admin, uniq):
    top = ok(admin.post("regions", {"region": {"id": "top-" + uniq, "description": "t"}}),
             201)["region"]
    assert top == {"id": "top-" + uniq, "description": "t", "parent_region_id": None,
                   "links": {"self": f"{kumo.url}/v3/regions/top-{uniq}"}}
    child = ok(admin.put(f"regions/child-{uniq}",
                         {"region": {"parent_region_id": top["id"]}}), 201)["region"]
    assert child["parent_region_id"] == top["id"] and child["description"] == ""
    gen = ok(admin.post("regions", {"region": {}}), 201)["region"]
    assert len(gen["id"]) == 32
    err(admin.post("regions", {"region": {"id": top["id"]}}), 409)
    err(admin.post("regions", {"region": {"parent_region_id": "nope-" + uniq}}), 404)
    lst = check_list(kumo, ok(admin.get("regions", params={"parent_region_id": top["id"]})),
                     "regions")
    assert ids(lst) == {child["id"]}
    err(admin.patch(f"regions/{top['id']}", {"region": {"parent_region_id": child["id"]}}),
        400)
    upd = ok(admin.patch(f"regions/{child['id']}", {"region": {"description": "c"}}))
    assert upd["region"]["description"] == "c"
    # a region whose subtree has endpoints can't be deleted
    s = ok(admin.post("services", {"service": {"type": "r-" + uniq}}), 201)["service"]
    e = ok(admin.post("endpoints", {"endpoint": {"service_id": s["id"], "interface": "public",
                                                 "url": "http://r", "region_id": child["id"]}}),
           201)["endpoint"]
    # region_id filters exactly: the child region's endpoints are not the parent's
    assert e["id"] not in ids(ok(admin.get("endpoints", params={"region_id": top["id"]}))
                              ["endpoints"])
    assert e["id"] in ids(ok(admin.get("endpoints", params={"region_id": child["id"]}))
                          ["endpoints"])
    err(admin.delete(f"regions/{top['id']}"), 403)
    ok(admin.delete(f"endpoints/{e['id']}"), 204)
    ok(admin.delete(f"regions/{top['id']}"), 204)
    err(admin.get(f"regions/{child['id']}"), 404)


def test_catalog_in_token(kumo):
    r = kumo.token_response(kumo.admin_user, kumo.admin_password, project=kumo.admin_project)
    assert r.status_code == 201
    cat = r.json()["token"]["catalog"]
    ident = [s for s in cat if s["type"] == "identity"]
    assert ident and ident[0]["name"] == "keystone"
    assert {e["interface"] for e in ident[0]["endpoints"]} == {"public", "internal", "admin"}


# ---------------------------------------------------------------- policy

def test_member_policy(kumo, admin, member, uniq):
    api, user, project = member["api"], member["user"], member["project"]
    msg = err(api.get("users"), 403)
    assert msg == "You are not authorized to perform the requested action: identity:list_users."
    ok(api.get(f"users/{user['id']}"))
    ok(api.get(f"users/{user['id']}/projects"))
    ok(api.get(f"users/{user['id']}/groups"))
    ok(api.get(f"projects/{project['id']}"))
    other = mk_project(admin, "other-" + uniq)
    err(api.get(f"projects/{other['id']}"), 403)
    err(api.get("projects"), 403)
    admin_uid = ok(admin.get("users", params={"name": "admin"}))["users"][0]["id"]
    err(api.get(f"users/{admin_uid}"), 403)
    err(api.get(f"users/{admin_uid}/projects"), 403)
    err(api.post("roles", {"role": {"name": "x" + uniq}}), 403)
    err(api.get("roles"), 403)
    err(api.put(f"projects/{project['id']}/users/{user['id']}/roles/"
                f"{role_id(admin, 'admin')}"), 403)
    err(api.get("role_assignments"), 403)
    err(api.post("projects", {"project": {"name": "x" + uniq}}), 403)
    err(api.patch(f"users/{user['id']}", {"user": {"name": "x"}}), 403)
    err(api.delete(f"projects/{project['id']}"), 403)
    err(api.get("domains"), 403)
    ok(api.get("domains/default"))          # the domain of its project
    err(api.post("services", {"service": {"type": "x"}}), 403)
    err(api.get("endpoints"), 403)
    ok(api.get("regions"))                  # regions are readable by anyone
    # a member changes its own password without any token
    r = requests.post(f"{kumo.url}/v3/users/{user['id']}/password",
                      json={"user": {"original_password": member["password"],
                                     "password": "changed-" + uniq}})
    assert r.status_code == 204, r.text


def test_reader_sees_but_cannot_write(kumo, admin, uniq):
    p = mk_project(admin, "rd-" + uniq)
    u = mk_user(admin, "rd-" + uniq, password="pw")
    ok(admin.put(f"projects/{p['id']}/users/{u['id']}/roles/{role_id(admin, 'reader')}"), 204)
    api = kumo.client(u["id"], "pw", project=p["id"])
    ok(api.get(f"projects/{p['id']}"))
    err(api.get("users"), 403)
    err(api.patch(f"projects/{p['id']}", {"project": {"description": "x"}}), 403)


def test_unauthenticated(kumo):
    r = requests.get(kumo.url + "/v3/users")
    err(r, 401)
    r = requests.get(kumo.url + "/v3/users", headers={"X-Auth-Token": "garbage"})
    err(r, 401)


def test_removing_group_grant_and_role_revoke_tokens(kumo, admin, uniq):
    p = mk_project(admin, "ggr-" + uniq)
    u = mk_user(admin, "ggr-" + uniq, password="pw")
    g = mk_group(admin, "ggr-" + uniq)
    ok(admin.put(f"groups/{g['id']}/users/{u['id']}"), 204)
    member_id = role_id(admin, "member")
    ok(admin.put(f"projects/{p['id']}/groups/{g['id']}/roles/{member_id}"), 204)
    tok = kumo.token(u["id"], "pw", project=p["id"])
    ok(admin.delete(f"projects/{p['id']}/groups/{g['id']}/roles/{member_id}"), 204)
    assert not token_works(kumo, tok, u["id"])
    # deleting a role revokes the tokens of those who held it
    r = mk_role(admin, "ggr-" + uniq)
    ok(admin.put(f"projects/{p['id']}/users/{u['id']}/roles/{r['id']}"), 204)
    tok = kumo.token(u["id"], "pw", project=p["id"])
    assert r["id"] in {x["id"] for x in kumo.token_response(u["id"], "pw", project=p["id"])
                       .json()["token"]["roles"]}
    ok(admin.delete(f"roles/{r['id']}"), 204)
    assert not token_works(kumo, tok, u["id"])
    assert ok(admin.get("role_assignments", params={"role.id": r["id"]}))[
        "role_assignments"] == []


def test_admin_token_mode(kumo, uniq):
    """The seed's OS_TOKEN mode: [DEFAULT] admin_token passes every check."""
    api = Api(kumo.url, kumo.admin_token)
    d = mk_domain(api, "at-" + uniq)
    p = mk_project(api, "at-" + uniq, domain_id=d["id"])
    u = mk_user(api, "at-" + uniq, password="pw")          # default domain
    assert u["domain_id"] == "default"
    ok(api.put(f"projects/{p['id']}/users/{u['id']}/roles/{role_id(api, 'member')}"), 204)
    ok(api.get("users"))
    ok(api.get("role_assignments", params={"effective": ""}))


def test_concurrent_creates_conflict_cleanly(kumo, admin, uniq):
    import concurrent.futures as cf

    def create(i):
        return Api(kumo.url, admin.token).post(
            "roles", {"role": {"name": ("Race-" if i % 2 else "race-") + uniq}}).status_code

    with cf.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(create, range(16)))
    assert codes.count(201) == 1 and codes.count(409) == 15, codes
    assert len(ok(admin.get("roles", params={"name": "race-" + uniq}))["roles"]) == 1


# ---------------------------------------------------------------- misc

def test_not_found_messages(admin):
    nid = "f" * 32
    for kind in ("users", "groups", "projects", "domains", "roles", "services", "endpoints",
                 "regions"):
        msg = err(admin.get(f"{kind}/{nid}"), 404)
        assert msg == f"Could not find {kind[:-1]}: {nid}.", msg


def test_big_and_odd_bodies(admin, uniq):
    r = admin.post("users", {"user": {"name": "y" * 100000}})
    msg = err(r, 400)
    assert len(msg) < 1000                  # the value is not echoed in full
    err(admin.post("users", json=[1, 2, 3]), 400)
    err(admin.post("users", {"user": "string"}), 400)
    err(admin.post("users", {"user": {"name": "u" + uniq, "options": "x"}}), 400)
    err(admin.post("projects", {"project": {"name": "p" + uniq, "parent_id": "bad id!"}}), 400)


def test_head_requests(admin):
    assert admin.head("users").status_code == 200
    assert admin.head("domains/default").status_code == 200
    assert admin.head("role_inferences").status_code == 200


# ---------------------------------------------------------------- last

def test_bootstrap_is_idempotent(kumo, admin):
    """Last on purpose: runs `kumo manage bootstrap` while the server is up."""
    before = {k: len(ok(admin.get(k))[k]) for k in
              ("roles", "users", "projects", "domains", "services", "endpoints", "regions")}
    kumo.bootstrap()
    after = {k: len(ok(admin.get(k))[k]) for k in before}
    assert before == after
    # same password: tokens stay valid, password still works
    uid = ok(admin.get("users", params={"name": "admin"}))["users"][0]["id"]
    assert token_works(kumo, admin.token, uid)
    kumo.token(kumo.admin_user, kumo.admin_password, project=kumo.admin_project)
    # the server keeps working after another process used the database
    for _ in range(20):
        ok(admin.get("users"))
        u = mk_user(admin, "after-bootstrap-" + uuid.uuid4().hex[:8], password="pw")
        kumo.token(u["id"], "pw")


# ---------------------------------------------------------------- credentials

def test_credentials_crud(kumo, admin, member, uniq):
    uid, pid = member["user"]["id"], member["project"]["id"]
    blob = '{"access": "acc-%s", "secret": "sec-%s"}' % (uniq, uniq)
    c = ok(admin.post("credentials", {"credential": {
        "user_id": uid, "project_id": pid, "type": "ec2", "blob": blob, "note": "x"}}),
        201)["credential"]
    # an EC2 credential's id is the SHA-256 of its access key; extra attributes are kept
    import hashlib
    assert c["id"] == hashlib.sha256(("acc-" + uniq).encode()).hexdigest()
    assert c["blob"] == blob and c["type"] == "ec2" and c["note"] == "x"
    assert c["links"]["self"] == f"{kumo.url}/v3/credentials/{c['id']}"
    # the blob is encrypted at rest
    assert ("sec-" + uniq).encode() not in open_db_bytes(kumo)
    other = ok(admin.post("credentials", {"credential": {
        "user_id": uid, "type": "totp", "blob": "seed-" + uniq}}), 201)["credential"]
    assert len(other["id"]) == 32 and other["project_id"] is None
    lst = check_list(kumo, ok(admin.get("credentials", params={"user_id": uid})), "credentials")
    assert ids(lst) == {c["id"], other["id"]}
    assert ids(ok(admin.get("credentials", params={"type": "totp",
                                                    "user_id": uid}))["credentials"]) == \
        {other["id"]}
    # the owner sees its own credentials, and only those
    mine = ok(member["api"].get("credentials"))["credentials"]
    assert ids(mine) == {c["id"], other["id"]}
    ok(member["api"].get(f"credentials/{c['id']}"))
    # update: blob, project; an EC2 access id can't change
    p2 = mk_project(admin, "cred2-" + uniq)
    blob2 = '{"access": "acc-%s", "secret": "new-%s"}' % (uniq, uniq)
    upd = ok(admin.patch(f"credentials/{c['id']}", {"credential": {
        "blob": blob2, "project_id": p2["id"], "type": "ec2"}}))["credential"]
    assert upd["blob"] == blob2 and upd["project_id"] == p2["id"] and upd["id"] == c["id"]
    assert ok(admin.get(f"credentials/{c['id']}"))["credential"]["blob"] == blob2
    err(admin.patch(f"credentials/{c['id']}", {"credential": {
        "blob": '{"access": "a", "access_id": "changed"}'}}), 400)
    err(admin.patch(f"credentials/{c['id']}", {"credential": {}}), 400)
    # validation
    err(admin.post("credentials", {"credential": {"user_id": uid, "type": "ec2",
                                                   "blob": blob}}), 400)     # no project
    err(admin.post("credentials", {"credential": {"user_id": uid, "project_id": pid,
                                                   "type": "ec2", "blob": "not json"}}), 400)
    err(admin.post("credentials", {"credential": {"user_id": uid, "project_id": pid,
                                                   "type": "ec2", "blob": "{}"}}), 400)
    m = err(admin.post("credentials", {"credential": {"user_id": uid, "type": "x",
                                                       "blob": 12345}}), 400)
    assert "12345" not in m          # a blob is never quoted back
    err(admin.post("credentials", {"credential": {"user_id": uid, "project_id": pid,
                                                   "type": "ec2", "blob": blob}}), 409)
    # someone else can't see or touch them
    stranger = mk_user(admin, "stranger-" + uniq, password="pw-" + uniq)
    ok(admin.put(f"projects/{pid}/users/{stranger['id']}/roles/{role_id(admin, 'member')}"),
       204)
    sapi = Api(kumo.url, kumo.token(stranger["id"], "pw-" + uniq, project=pid))
    assert ok(sapi.get("credentials"))["credentials"] == []
    err(sapi.get(f"credentials/{c['id']}"), 403)
    err(sapi.delete(f"credentials/{c['id']}"), 403)
    err(sapi.post("credentials", {"credential": {"user_id": uid, "type": "x", "blob": "b"}}),
        403)
    ok(admin.delete(f"credentials/{c['id']}"), 204)
    err(admin.get(f"credentials/{c['id']}"), 404)
    err(admin.delete(f"credentials/{c['id']}"), 404)
    # a user's credentials go with it
    ok(admin.delete(f"users/{uid}"), 204)
    err(admin.get(f"credentials/{other['id']}"), 404)


def open_db_bytes(kumo):
    """The raw identity database (SQLite only; b"" otherwise)."""
    path = kumo.db_url[len("sqlite:///"):] if kumo.db_url.startswith("sqlite:///") else None
    if not path:
        return b""
    data = b""
    for suffix in ("", "-wal"):
        try:
            with open(path + suffix, "rb") as f:
                data += f.read()
        except FileNotFoundError:
            pass
    return data


def test_ec2_credentials(kumo, admin, member, uniq):
    uid, pid = member["user"]["id"], member["project"]["id"]
    api = member["api"]
    c = ok(api.post(f"users/{uid}/credentials/OS-EC2", {"tenant_id": pid}), 201)["credential"]
    assert set(c) == {"user_id", "tenant_id", "access", "secret", "trust_id", "links"}
    assert c["user_id"] == uid and c["tenant_id"] == pid and c["trust_id"] is None
    assert len(c["access"]) == 32 and len(c["secret"]) == 32
    assert c["links"]["self"] == f"{kumo.url}/v3/users/{uid}/credentials/OS-EC2/{c['access']}"
    c2 = ok(api.post(f"users/{uid}/credentials/OS-EC2", {"tenant_id": pid}), 201)["credential"]
    lst = ok(api.get(f"users/{uid}/credentials/OS-EC2"))["credentials"]
    assert {x["access"] for x in lst} == {c["access"], c2["access"]}
    got = ok(api.get(f"users/{uid}/credentials/OS-EC2/{c['access']}"))["credential"]
    assert got == c
    # they are credentials of type ec2 too
    import hashlib
    v3 = ok(admin.get("credentials/" + hashlib.sha256(c["access"].encode()).hexdigest()))
    assert v3["credential"]["type"] == "ec2" and c["secret"] in v3["credential"]["blob"]
    err(api.post(f"users/{uid}/credentials/OS-EC2", {"tenant_id": "nope" + uniq}), 404)
    err(api.post(f"users/{admin_id(admin)}/credentials/OS-EC2", {"tenant_id": pid}), 403)
    ok(api.delete(f"users/{uid}/credentials/OS-EC2/{c['access']}"), 204)
    err(api.get(f"users/{uid}/credentials/OS-EC2/{c['access']}"), 404)
    err(api.delete(f"users/{uid}/credentials/OS-EC2/{c['access']}"), 404)


def admin_id(admin):
    return ok(admin.get("users", params={"name": "admin"}))["users"][0]["id"]


def test_application_credentials_api(kumo, admin, member, uniq):
    uid = member["user"]["id"]
    api = member["api"]
    rules = [{"path": "/v2.1/servers/*/ips", "method": "GET", "service": "compute"}]
    exp = "2099-01-02T03:04:05.123456"
    ac = ok(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "app-" + uniq, "description": "d", "expires_at": exp,
        "access_rules": rules}}), 201)["application_credential"]
    assert ac["expires_at"] == exp and ac["description"] == "d" and ac["system"] is None
    assert ac["user_id"] == uid and ac["project_id"] == member["project"]["id"]
    assert ac["links"]["self"] == f"{kumo.url}/v3/application_credentials/{ac['id']}"
    # default roles: those of the token (member, and reader which it implies)
    assert {r["name"] for r in ac["roles"]} == {"member", "reader"}
    assert len(ac["secret"]) >= 64
    rule = ac["access_rules"][0]
    assert {k: rule[k] for k in ("path", "method", "service")} == rules[0]
    got = ok(api.get(f"users/{uid}/application_credentials/{ac['id']}"))
    assert "secret" not in got["application_credential"]
    assert got["application_credential"]["roles"] == ac["roles"]
    ac2 = ok(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "app2-" + uniq, "access_rules": rules}}), 201)["application_credential"]
    assert ac2["access_rules"][0]["id"] == rule["id"]       # identical rules are shared
    lst = ok(api.get(f"users/{uid}/application_credentials"))["application_credentials"]
    assert {x["id"] for x in lst} == {ac["id"], ac2["id"]}
    lst = ok(api.get(f"users/{uid}/application_credentials",
                     params={"name": "app2-" + uniq}))["application_credentials"]
    assert [x["id"] for x in lst] == [ac2["id"]]
    rl = ok(api.get(f"users/{uid}/access_rules"))
    assert [x["id"] for x in rl["access_rules"]] == [rule["id"]]
    assert rl["access_rules"][0]["links"]["self"] == f"{kumo.url}/v3/access_rules/{rule['id']}"
    ok(api.get(f"users/{uid}/access_rules/{rule['id']}"))
    err(api.delete(f"users/{uid}/access_rules/{rule['id']}"), 403)       # in use
    # errors
    err(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "app-" + uniq}}), 409)
    err(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "r-" + uniq, "roles": [{"name": "admin"}]}}), 400)      # not in the token
    err(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "r-" + uniq, "roles": [{"id": "x", "name": "y"}]}}), 400)
    err(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "e-" + uniq, "expires_at": "2001-01-01T00:00:00"}}), 400)
    err(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "e-" + uniq, "expires_at": "soon"}}), 400)
    err(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "u-" + uniq, "unrestricted": "yes"}}), 400)
    err(api.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "a-" + uniq, "access_rules": [{"method": "FETCH"}]}}), 400)
    # only for oneself, even as admin
    err(admin.post(f"users/{uid}/application_credentials", {"application_credential": {
        "name": "adm-" + uniq}}), 403)
    # an admin may see and delete them; the owner too
    ok(admin.get(f"users/{uid}/application_credentials/{ac['id']}"))
    ok(api.delete(f"users/{uid}/application_credentials/{ac['id']}"), 204)
    err(api.get(f"users/{uid}/application_credentials/{ac['id']}"), 404)
    ok(admin.delete(f"users/{uid}/application_credentials/{ac2['id']}"), 204)
    ok(api.delete(f"users/{uid}/access_rules/{rule['id']}"), 204)
    err(api.get(f"users/{uid}/access_rules/{rule['id']}"), 404)


# ---------------------------------------------------------------- schema strictness

@pytest.mark.parametrize("path,key,body", [
    ("domains", "domain", {"name": "b-{u}", "enabled": "yes"}),
    ("domains", "domain", {"name": "b-{u}", "enabled": "True"}),
    ("domains", "domain", {"name": "b-{u}", "enabled": 1}),
    ("domains", "domain", {"name": "b-{u}", "enabled": None}),
    ("projects", "project", {"name": "b-{u}", "enabled": "true"}),
    ("projects", "project", {"name": "b-{u}", "is_domain": "true"}),
    ("projects", "project", {"name": "b-{u}", "is_domain": 0}),
    ("projects", "project", {"name": "b-{u}", "domain_id": 42}),
    ("projects", "project", {"name": "b-{u}", "parent_id": "not an id!"}),
    ("projects", "project", {"name": "b-{u}", "options": {"immutable": "yes"}}),
    ("projects", "project", {"name": "b-{u}", "options": {"nope": True}}),
    ("users", "user", {"name": "b-{u}", "enabled": "yes"}),
    ("users", "user", {"name": "b-{u}", "default_project_id": 7}),
    ("users", "user", {"name": "b-{u}", "domain_id": None}),
    ("users", "user", {"name": "b-{u}", "password": ["x"]}),
    ("users", "user", {"name": "b-{u}", "options": {"no_such_option": True}}),
    ("users", "user", {"name": "b-{u}", "options": {"lock_password": "yes"}}),
    ("users", "user", {"name": "b-{u}", "options": {"multi_factor_auth_rules": [[]]}}),
    ("users", "user", {"name": "b-{u}", "options": {"multi_factor_auth_rules": [["a", "a"]]}}),
    ("users", "user", {"name": "b-{u}", "federated": {"idp_id": "x"}}),
    ("users", "user", {"name": "b-{u}", "federated": [{"idp_id": "x", "protocols": []}]}),
    ("groups", "group", {"name": "b-{u}", "domain_id": 5}),
    ("groups", "group", {"name": "b-{u}", "description": 5}),
    ("roles", "role", {"name": "b-{u}", "description": None}),
    ("roles", "role", {"name": "b-{u}", "options": {"immutable": 1}}),
    ("services", "service", {"type": "t", "name": "   "}),
    ("services", "service", {"type": "t", "enabled": "yes"}),
    ("regions", "region", {"id": None}),
    ("regions", "region", {"parent_region_id": 5}),
])
def test_bodies_are_type_strict(admin, uniq, path, key, body):
    """Keystone's JSON schemas: booleans are JSON booleans, ids are strings matching
    [a-zA-Z0-9-]+, options come from a fixed registry, descriptions are strings."""
    body = {k: (v.format(u=uniq) if isinstance(v, str) else v) for k, v in body.items()}
    m = err(admin.post(path, {key: body}), 400)
    assert "Invalid input" in m


def test_updates_are_type_strict(admin, uniq):
    d = mk_domain(admin, "ts-" + uniq)
    p = mk_project(admin, "ts-" + uniq, domain_id=d["id"])
    u = mk_user(admin, "ts-" + uniq)
    g = mk_group(admin, "ts-" + uniq)
    role = mk_role(admin, "ts-" + uniq)
    for path, key, bad in ((f"domains/{d['id']}", "domain", {"enabled": "no"}),
                           (f"projects/{p['id']}", "project", {"enabled": "false"}),
                           (f"projects/{p['id']}", "project", {"is_domain": "false"}),
                           (f"projects/{p['id']}", "project", {"domain_id": 3}),
                           (f"users/{u['id']}", "user", {"enabled": "no"}),
                           (f"users/{u['id']}", "user", {"domain_id": []}),
                           (f"users/{u['id']}", "user", {"options": {"x": 1}}),
                           (f"groups/{g['id']}", "group", {"domain_id": {}}),
                           (f"roles/{role['id']}", "role", {"description": None})):
        err(admin.patch(path, {key: bad}), 400)
    # nothing changed
    assert ok(admin.get(f"domains/{d['id']}"))["domain"]["enabled"] is True
    assert ok(admin.get(f"users/{u['id']}"))["user"]["enabled"] is True
    # JSON booleans and known options are fine
    assert ok(admin.patch(f"users/{u['id']}", {"user": {
        "enabled": False, "options": {"lock_password": True,
                                      "multi_factor_auth_rules": [["password", "totp"]]}}})
              )["user"]["options"] == {"lock_password": True,
                                       "multi_factor_auth_rules": [["password", "totp"]]}
    assert ok(admin.patch(f"users/{u['id']}", {"user": {"options": {"lock_password": None}}})
              )["user"]["options"] == {"multi_factor_auth_rules": [["password", "totp"]]}
    assert ok(admin.patch(f"domains/{d['id']}", {"domain": {"enabled": False}}))[
        "domain"]["enabled"] is False


def test_wrong_content_type_is_400(kumo, admin, uniq):
    for ct in ("text/plain", "application/x-www-form-urlencoded"):
        r = admin.request("POST", "domains", data='{"domain": {"name": "ct-%s"}}' % uniq,
                          headers={"Content-Type": ct})
        assert "application/json" in err(r, 400)
    r = admin.request("POST", "domains", data='{"domain": {"name": "ct-%s"}}' % uniq,
                      headers={"Content-Type": "application/json; charset=UTF-8"})
    ok(r, 201)


# ---------------------------------------------------------------- Keystone details (P2)

def test_project_in_disabled_domain(admin, uniq):
    d = mk_domain(admin, "dd-" + uniq, enabled=False)
    m = err(admin.post("projects", {"project": {"name": "p-" + uniq, "domain_id": d["id"]}}),
            400)
    assert d["id"] in m and "disabled" in m


def test_immutable_roles_projects_domains(admin, uniq):
    # bootstrap's roles are immutable, as keystone-manage bootstrap makes them
    for name in ("admin", "member", "reader"):
        r = ok(admin.get(f"roles/{role_id(admin, name)}"))["role"]
        assert r["options"] == {"immutable": True}
        assert "immutable" in err(admin.patch(f"roles/{r['id']}",
                                              {"role": {"description": ""}}), 403)
        err(admin.delete(f"roles/{r['id']}"), 403)
    role = mk_role(admin, "imm-" + uniq, options={"immutable": True})
    assert role["options"] == {"immutable": True}
    err(admin.patch(f"roles/{role['id']}", {"role": {"name": "x" + uniq}}), 403)
    # clearing the option (and only that) is allowed; then anything is
    err(admin.patch(f"roles/{role['id']}", {"role": {"name": "x" + uniq,
                                                     "options": {"immutable": False}}}), 403)
    assert ok(admin.patch(f"roles/{role['id']}", {"role": {"options": {"immutable": False}}})
              )["role"]["options"] == {"immutable": False}
    ok(admin.delete(f"roles/{role['id']}"), 204)

    p = mk_project(admin, "imm-" + uniq, options={"immutable": True})
    assert ok(admin.get(f"projects/{p['id']}"))["project"]["options"] == {"immutable": True}
    err(admin.patch(f"projects/{p['id']}", {"project": {"description": "x"}}), 403)
    err(admin.put(f"projects/{p['id']}/tags/t1"), 403)
    err(admin.put(f"projects/{p['id']}/tags", {"tags": ["a"]}), 403)
    err(admin.delete(f"projects/{p['id']}"), 403)
    ok(admin.patch(f"projects/{p['id']}", {"project": {"options": {"immutable": None}}}))
    ok(admin.delete(f"projects/{p['id']}"), 204)

    d = mk_domain(admin, "imm-" + uniq, options={"immutable": True})
    err(admin.patch(f"domains/{d['id']}", {"domain": {"enabled": False}}), 403)
    ok(admin.patch(f"domains/{d['id']}", {"domain": {"options": {"immutable": False}}}))
    ok(admin.patch(f"domains/{d['id']}", {"domain": {"enabled": False}}))
    ok(admin.delete(f"domains/{d['id']}"), 204)


def test_inexact_name_filters(admin, uniq):
    a = mk_user(admin, f"Alpha-{uniq}-one")
    b = mk_user(admin, f"alpha-{uniq}-two")
    mk_user(admin, f"beta-{uniq}")

    def names(**params):
        return {u["name"] for u in ok(admin.get("users", params=params))["users"]
                if uniq in u["name"]}

    assert names(name__startswith="Alpha-") == {a["name"]}
    assert names(name__istartswith="alpha-") == {a["name"], b["name"]}
    assert names(name__endswith="-two") == {b["name"]}
    assert names(name__iendswith="-ONE") == {a["name"]}
    assert names(name__contains=f"pha-{uniq}") == {a["name"], b["name"]}
    assert names(name__icontains=f"HA-{uniq}") == {a["name"], b["name"]}
    assert names(name__contains="%") == set()          # matched literally
    assert names(name__startswith="alpha", name__endswith="two") == {b["name"]}
    # the same on the other collections
    g = mk_group(admin, f"grp-{uniq}-x")
    assert ids(ok(admin.get("groups", params={"name__contains": f"{uniq}-x"}))["groups"]) == \
        {g["id"]}
    p = mk_project(admin, f"prj-{uniq}-x")
    assert ids(ok(admin.get("projects", params={"name__endswith": f"{uniq}-x"}))
               ["projects"]) == {p["id"]}
    r = mk_role(admin, f"rol-{uniq}-x")
    assert ids(ok(admin.get("roles", params={"name__startswith": f"rol-{uniq}"}))
               ["roles"]) == {r["id"]}
    d = mk_domain(admin, f"dom-{uniq}-x")
    assert ids(ok(admin.get("domains", params={"name__icontains": f"DOM-{uniq}"}))
               ["domains"]) == {d["id"]}


def test_default_attribute_values(admin, uniq):
    s = ok(admin.post("services", {"service": {"type": "t-" + uniq}}), 201)["service"]
    assert s["name"] == ""
    assert ok(admin.get(f"services/{s['id']}"))["service"]["name"] == ""
    g = mk_group(admin, "gd-" + uniq)
    assert g["description"] == ""
    g2 = mk_group(admin, "gd2-" + uniq, description=None)
    assert g2["description"] is None
    u = mk_user(admin, "gm-" + uniq)
    ok(admin.put(f"groups/{g['id']}/users/{u['id']}"), 204)
    got = ok(admin.get(f"users/{u['id']}/groups"))["groups"]
    assert got[0]["id"] == g["id"] and got[0]["membership_expires_at"] is None
    ok(admin.delete(f"services/{s['id']}"), 204)


# ---------------------------------------------------------------- OS-EP-FILTER

def test_endpoint_groups_and_catalog_filter(kumo, admin, member, uniq):
    s1 = ok(admin.post("services", {"service": {"type": "ep1-" + uniq, "name": "a"}}),
            201)["service"]
    s2 = ok(admin.post("services", {"service": {"type": "ep2-" + uniq, "name": "b"}}),
            201)["service"]
    e1 = ok(admin.post("endpoints", {"endpoint": {"service_id": s1["id"], "interface": "public",
                                                  "url": "http://e1"}}), 201)["endpoint"]
    e2 = ok(admin.post("endpoints", {"endpoint": {"service_id": s2["id"], "interface": "public",
                                                  "url": "http://e2"}}), 201)["endpoint"]
    eg = ok(admin.post("OS-EP-FILTER/endpoint_groups", {"endpoint_group": {
        "name": "eg-" + uniq, "description": "d", "filters": {"service_id": s1["id"]}}}),
        201)["endpoint_group"]
    assert eg["filters"] == {"service_id": s1["id"]}
    assert eg["links"]["self"] == f"{kumo.url}/v3/OS-EP-FILTER/endpoint_groups/{eg['id']}"
    assert eg["id"] in ids(ok(admin.get("OS-EP-FILTER/endpoint_groups"))["endpoint_groups"])
    assert ok(admin.get(f"OS-EP-FILTER/endpoint_groups/{eg['id']}"))["endpoint_group"] == eg
    ok(admin.head(f"OS-EP-FILTER/endpoint_groups/{eg['id']}"))
    assert ids(ok(admin.get(f"OS-EP-FILTER/endpoint_groups/{eg['id']}/endpoints"))
               ["endpoints"]) == {e1["id"]}
    err(admin.post("OS-EP-FILTER/endpoint_groups", {"endpoint_group": {
        "name": "x", "filters": {"colour": "red"}}}), 400)
    err(admin.post("OS-EP-FILTER/endpoint_groups", {"endpoint_group": {
        "name": "x", "filters": {}}}), 400)
    err(admin.get("OS-EP-FILTER/endpoint_groups/nope" + uniq), 404)

    pid = member["project"]["id"]
    catalog = ok(member["api"].get("auth/catalog"))["catalog"]
    assert {s1["id"], s2["id"]} <= {s["id"] for s in catalog}
    # associating an endpoint group with the project filters its catalog
    ok(admin.put(f"OS-EP-FILTER/endpoint_groups/{eg['id']}/projects/{pid}"), 204)
    got = ok(admin.get(f"OS-EP-FILTER/endpoint_groups/{eg['id']}/projects/{pid}"))
    assert got["project_endpoint_group"]["project_id"] == pid
    assert ids(ok(admin.get(f"OS-EP-FILTER/endpoint_groups/{eg['id']}/projects"))
               ["projects"]) == {pid}
    assert ids(ok(admin.get(f"OS-EP-FILTER/projects/{pid}/endpoint_groups"))
               ["endpoint_groups"]) == {eg["id"]}
    catalog = ok(member["api"].get("auth/catalog"))["catalog"]
    assert [s["id"] for s in catalog] == [s1["id"]]
    tok = requests.get(f"{kumo.url}/v3/auth/tokens", timeout=30,
                       headers={"X-Auth-Token": admin.token,
                                "X-Subject-Token": member["token"]}).json()["token"]
    assert [s["id"] for s in tok["catalog"]] == [s1["id"]]
    # plus one endpoint directly
    ok(admin.put(f"OS-EP-FILTER/projects/{pid}/endpoints/{e2['id']}"), 204)
    ok(admin.head(f"OS-EP-FILTER/projects/{pid}/endpoints/{e2['id']}"), 204)
    assert ids(ok(admin.get(f"OS-EP-FILTER/projects/{pid}/endpoints"))["endpoints"]) == \
        {e1["id"], e2["id"]}
    assert ids(ok(admin.get(f"OS-EP-FILTER/endpoints/{e2['id']}/projects"))["projects"]) == \
        {pid}
    assert {s["id"] for s in ok(member["api"].get("auth/catalog"))["catalog"]} == \
        {s1["id"], s2["id"]}
    # other projects keep the full catalog
    assert len(ok(admin.get("auth/catalog"))["catalog"]) > 2
    # updates and removals
    eg2 = ok(admin.patch(f"OS-EP-FILTER/endpoint_groups/{eg['id']}", {"endpoint_group": {
        "name": "eg2-" + uniq, "filters": {"service_id": s2["id"]}}}))["endpoint_group"]
    assert eg2["name"] == "eg2-" + uniq and eg2["filters"] == {"service_id": s2["id"]}
    assert [s["id"] for s in ok(member["api"].get("auth/catalog"))["catalog"]] == [s2["id"]]
    ok(admin.delete(f"OS-EP-FILTER/projects/{pid}/endpoints/{e2['id']}"), 204)
    err(admin.delete(f"OS-EP-FILTER/projects/{pid}/endpoints/{e2['id']}"), 404)
    ok(admin.delete(f"OS-EP-FILTER/endpoint_groups/{eg['id']}/projects/{pid}"), 204)
    err(admin.get(f"OS-EP-FILTER/endpoint_groups/{eg['id']}/projects/{pid}"), 404)
    assert {s1["id"], s2["id"]} <= {s["id"] for s in
                                    ok(member["api"].get("auth/catalog"))["catalog"]}
    ok(admin.delete(f"OS-EP-FILTER/endpoint_groups/{eg['id']}"), 204)
    err(admin.get(f"OS-EP-FILTER/endpoint_groups/{eg['id']}"), 404)
    # only admins manage them
    err(member["api"].get("OS-EP-FILTER/endpoint_groups"), 403)
    for s in (s1, s2):
        ok(admin.delete(f"services/{s['id']}"), 204)


# ---------------------------------------------------------------- policies, consumers

def test_policies_and_consumers(kumo, admin, member, uniq):
    p = ok(admin.post("policies", {"policy": {"blob": "b-" + uniq, "type": "t-" + uniq,
                                              "x": 1}}), 201)["policy"]
    assert p["blob"] == "b-" + uniq and p["type"] == "t-" + uniq and p["x"] == 1
    assert p["links"]["self"] == f"{kumo.url}/v3/policies/{p['id']}"
    assert p["id"] in ids(ok(admin.get("policies"))["policies"])
    upd = ok(admin.patch(f"policies/{p['id']}", {"policy": {"type": "u-" + uniq}}))["policy"]
    assert upd["type"] == "u-" + uniq and upd["blob"] == "b-" + uniq
    assert ok(admin.get(f"policies/{p['id']}"))["policy"] == upd
    err(admin.post("policies", {"policy": {"type": "t"}}), 400)
    err(admin.post("policies", {"policy": {"blob": 1, "type": "t"}}), 400)
    err(member["api"].get("policies"), 403)
    ok(admin.delete(f"policies/{p['id']}"), 204)
    err(admin.get(f"policies/{p['id']}"), 404)

    c = ok(admin.post("OS-OAUTH1/consumers", {"consumer": {"description": "d-" + uniq}}),
           201)["consumer"]
    assert c["description"] == "d-" + uniq and len(c["secret"]) == 32
    assert c["links"]["self"] == f"{kumo.url}/v3/OS-OAUTH1/consumers/{c['id']}"
    got = ok(admin.get(f"OS-OAUTH1/consumers/{c['id']}"))["consumer"]
    assert "secret" not in got and got["description"] == "d-" + uniq
    assert c["id"] in ids(ok(admin.get("OS-OAUTH1/consumers"))["consumers"])
    upd = ok(admin.patch(f"OS-OAUTH1/consumers/{c['id']}", {"consumer": {"description": "n"}}))
    assert upd["consumer"]["description"] == "n"
    err(admin.patch(f"OS-OAUTH1/consumers/{c['id']}", {"consumer": {"secret": "s"}}), 400)
    ok(admin.delete(f"OS-OAUTH1/consumers/{c['id']}"), 204)
    err(admin.get(f"OS-OAUTH1/consumers/{c['id']}"), 404)


# ---------------------------------------------------------------- domain configuration

def test_domain_config(admin, member, uniq):
    d = mk_domain(admin, "cfg-" + uniq)
    cfg = {"identity": {"driver": "ldap"},
           "ldap": {"url": "ldap://x:389/", "user_tree_dn": "ou=Users,dc=x", "password": "pw"}}
    base = f"domains/{d['id']}/config"
    err(admin.get(base), 404)
    created = ok(admin.put(base, {"config": cfg}), 201)["config"]
    # the sensitive password is kept but never shown
    assert created == {"identity": {"driver": "ldap"},
                       "ldap": {"url": "ldap://x:389/", "user_tree_dn": "ou=Users,dc=x"}}
    assert ok(admin.get(base))["config"] == created
    assert ok(admin.get(base + "/ldap"))["config"] == {"ldap": created["ldap"]}
    assert ok(admin.get(base + "/ldap/url"))["config"] == {"url": "ldap://x:389/"}
    err(admin.get(base + "/ldap/password"), 404)
    err(admin.get(base + "/ldap/user"), 404)
    err(admin.get(base + "/nope"), 403)
    err(admin.get(base + "/ldap/nope"), 403)
    # PUT again replaces (200)
    assert ok(admin.put(base, {"config": {"identity": {"driver": "sql"}}}))["config"] == \
        {"identity": {"driver": "sql"}}
    ok(admin.put(base, {"config": cfg}))
    # PATCH merges; with a group or option only that
    upd = ok(admin.patch(base, {"config": {"identity": {"list_limit": 5}}}))["config"]
    assert upd["identity"] == {"driver": "ldap", "list_limit": 5}
    upd = ok(admin.patch(base + "/ldap", {"config": {"ldap": {"url": "ldap://y"}}}))["config"]
    assert upd["ldap"]["url"] == "ldap://y"
    upd = ok(admin.patch(base + "/identity/driver", {"config": {"driver": "x"}}))["config"]
    assert upd["identity"]["driver"] == "x"
    err(admin.patch(base + "/ldap", {"config": {"identity": {"driver": "x"}}}), 403)
    err(admin.patch(base + "/ldap/user", {"config": {"user": "cn=u"}}), 404)
    err(admin.put(base, {"config": {"nope": {"a": 1}}}), 403)
    err(admin.put(base, {"config": {"ldap": {}}}), 403)
    err(admin.put(base, {"config": {}}), 403)
    # deletes
    ok(admin.delete(base + "/identity/driver"), 204)
    err(admin.get(base + "/identity/driver"), 404)
    ok(admin.delete(base + "/identity"), 204)
    err(admin.get(base + "/identity"), 404)
    err(admin.delete(base + "/identity"), 404)
    ok(admin.delete(base), 204)
    err(admin.get(base), 404)
    err(admin.get("domains/nope" + uniq + "/config"), 404)
    err(member["api"].get(base), 403)
    # the defaults
    dflt = ok(admin.get("domains/config/default"))["config"]
    assert dflt["identity"] == {"driver": "sql", "list_limit": None}
    assert dflt["ldap"]["url"] == "ldap://localhost" and "password" not in dflt["ldap"]
    assert ok(admin.get("domains/config/ldap/default"))["config"] == {"ldap": dflt["ldap"]}
    assert ok(admin.get("domains/config/ldap/url/default"))["config"] == \
        {"url": "ldap://localhost"}
    err(admin.get("domains/config/nope/default"), 403)
    # security compliance is readable by anyone (Kumo has no password rules)
    sc = ok(member["api"].get("domains/default/config/security_compliance"))["config"]
    assert sc == {"password_regex": None, "password_regex_description": None}


# ---------------------------------------------------------------- OS-REVOKE, limits

def test_revoke_events(kumo, admin, member, uniq):
    u = mk_user(admin, "rev-" + uniq)
    before = ok(admin.get("OS-REVOKE/events"))["events"]
    ok(admin.patch(f"users/{u['id']}", {"user": {"enabled": False}}))
    lst = ok(admin.get("OS-REVOKE/events"))
    assert lst["links"]["self"] == f"{kumo.url}/v3/OS-REVOKE/events"
    mine = [e for e in lst["events"] if e.get("user_id") == u["id"]]
    assert len(mine) == 1 and len(lst["events"]) > len(before)
    assert set(mine[0]) == {"user_id", "issued_before", "revoked_at"}
    since = mine[0]["revoked_at"]
    assert all(e["revoked_at"] > since for e in
               ok(admin.get("OS-REVOKE/events", params={"since": since}))["events"])
    err(admin.get("OS-REVOKE/events", params={"since": "garbage"}), 400)
    err(member["api"].get("OS-REVOKE/events"), 403)


def test_limits(kumo, admin, member, uniq):
    s = ok(admin.post("services", {"service": {"type": "lim-" + uniq}}), 201)["service"]
    assert ok(admin.get("limits/model"))["model"]["name"] == "flat"
    regs = ok(admin.post("registered_limits", {"registered_limits": [
        {"service_id": s["id"], "resource_name": "cores", "default_limit": 10},
        {"service_id": s["id"], "region_id": kumo.region, "resource_name": "ram",
         "default_limit": 1024, "description": "d"}]}), 201)["registered_limits"]
    assert [r["resource_name"] for r in regs] == ["cores", "ram"]
    assert regs[0]["region_id"] is None and regs[1]["region_id"] == kumo.region
    assert regs[0]["links"]["self"] == f"{kumo.url}/v3/registered_limits/{regs[0]['id']}"
    err(admin.post("registered_limits", {"registered_limits": [
        {"service_id": s["id"], "resource_name": "cores", "default_limit": 1}]}), 409)
    err(admin.post("registered_limits", {"registered_limits": [
        {"service_id": "nope" + uniq, "resource_name": "x", "default_limit": 1}]}), 400)
    err(admin.post("registered_limits", {"registered_limits": [
        {"service_id": s["id"], "resource_name": "x", "default_limit": "1"}]}), 400)
    err(admin.post("registered_limits", {"registered_limits": []}), 400)
    lst = ok(member["api"].get("registered_limits", params={"service_id": s["id"]}))
    assert ids(lst["registered_limits"]) == ids(regs)

    pid = member["project"]["id"]
    lims = ok(admin.post("limits", {"limits": [
        {"project_id": pid, "service_id": s["id"], "resource_name": "cores",
         "resource_limit": 5}]}), 201)["limits"]
    lim = lims[0]
    assert lim["project_id"] == pid and lim["domain_id"] is None and lim["resource_limit"] == 5
    err(admin.post("limits", {"limits": [
        {"project_id": pid, "service_id": s["id"], "resource_name": "cores",
         "resource_limit": 6}]}), 409)
    err(admin.post("limits", {"limits": [                       # no registered limit
        {"project_id": pid, "service_id": s["id"], "resource_name": "disks",
         "resource_limit": 6}]}), 403)
    err(admin.post("limits", {"limits": [
        {"project_id": pid, "domain_id": "default", "service_id": s["id"],
         "resource_name": "cores", "resource_limit": 6}]}), 400)
    dl = ok(admin.post("limits", {"limits": [
        {"domain_id": "default", "service_id": s["id"], "resource_name": "cores",
         "resource_limit": 50}]}), 201)["limits"][0]
    # the member sees its project's limits; its own is readable
    assert ids(ok(member["api"].get("limits"))["limits"]) == {lim["id"]}
    ok(member["api"].get(f"limits/{lim['id']}"))
    err(member["api"].get(f"limits/{dl['id']}"), 403)
    upd = ok(admin.patch(f"limits/{lim['id']}", {"limit": {"resource_limit": 7}}))["limit"]
    assert upd["resource_limit"] == 7
    err(admin.patch(f"limits/{lim['id']}", {"limit": {"resource_name": "x"}}), 400)
    # a registered limit in use can't change
    err(admin.patch(f"registered_limits/{regs[0]['id']}",
                    {"registered_limit": {"default_limit": 3}}), 403)
    err(admin.delete(f"registered_limits/{regs[0]['id']}"), 403)
    err(member["api"].delete(f"limits/{lim['id']}"), 403)
    ok(admin.delete(f"limits/{lim['id']}"), 204)
    ok(admin.delete(f"limits/{dl['id']}"), 204)
    err(admin.get(f"limits/{lim['id']}"), 404)
    upd = ok(admin.patch(f"registered_limits/{regs[0]['id']}",
                         {"registered_limit": {"default_limit": 3}}))["registered_limit"]
    assert upd["default_limit"] == 3
    for r in regs:
        ok(admin.delete(f"registered_limits/{r['id']}"), 204)
    err(admin.get(f"registered_limits/{regs[0]['id']}"), 404)
    ok(admin.delete(f"services/{s['id']}"), 204)


# ---------------------------------------------------------------- JSON-Home

def test_json_home(kumo):
    rel = "https://docs.openstack.org/api/openstack-identity/3/"
    for path, prefix in (("/v3", ""), ("/", "/v3")):
        r = requests.get(kumo.url + path, headers={"Accept": "application/json-home"},
                         timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/json-home"
        res = r.json()["resources"]
        assert res[rel + "rel/users"] == {"href": prefix + "/users"}
        assert res[rel + "rel/user"] == {"href-template": prefix + "/users/{user_id}",
                                         "href-vars": {"user_id": rel + "param/user_id"}}
        assert res[rel + "rel/domain_config_option"]["href-vars"]["group"] == \
            rel + "param/config_group"
        assert res[rel + "rel/limits"]["hints"] == {"status": "experimental"}
        assert rel + "ext/OS-EP-FILTER/1.0/rel/endpoint_groups" in res
        assert rel + "rel/application_credentials" in res
    # the plain version documents stay as they were
    assert requests.get(kumo.url + "/v3", timeout=30).json()["version"]["id"] == "v3.14"
    assert requests.get(kumo.url + "/", timeout=30).status_code == 300
