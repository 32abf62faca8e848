"""The token API (/v3/auth/*) end to end over HTTP, against Keystone's behaviour.

Issue (password and token methods, every scope, ?nocatalog), validate
(GET/HEAD with X-Subject-Token, allow_expired), revoke (DELETE, user disable,
password change, role assignment removal), the error shapes, and the policy
on someone else's token.
"""

import datetime
import re
import time

import pytest
import requests

from conftest import Api, Kumo, free_port

ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


# ---------------------------------------------------------------- helpers

def post_auth(kumo, body, params=None, headers=None):
    return requests.post(kumo.url + "/v3/auth/tokens", json=body, params=params,
                         headers=headers or {}, timeout=30)


def password_body(user_id, password, scope=None):
    body = {"auth": {"identity": {"methods": ["password"],
                                  "password": {"user": {"id": user_id,
                                                        "password": password}}}}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def token_body(token, scope=None):
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def validate(kumo, caller, subject, params=None, method="GET"):
    return requests.request(method, kumo.url + "/v3/auth/tokens", params=params,
                            headers={"X-Auth-Token": caller, "X-Subject-Token": subject},
                            timeout=30)


class World:
    """A domain-default user with a role on a fresh project."""

    def __init__(self, kumo, admin, uniq, with_role=True, default_project=False):
        self.kumo, self.admin = kumo, admin
        self.password = "pw-" + uniq
        r = admin.post("roles", json={"role": {"name": "tokrole-" + uniq}})
        assert r.status_code == 201, r.text
        self.role = r.json()["role"]
        r = admin.post("projects", json={"project": {"name": "tokproj-" + uniq,
                                                     "domain_id": "default"}})
        assert r.status_code == 201, r.text
        self.project = r.json()["project"]
        user = {"name": "tokuser-" + uniq, "domain_id": "default", "password": self.password}
        if default_project:
            user["default_project_id"] = self.project["id"]
        r = admin.post("users", json={"user": user})
        assert r.status_code == 201, r.text
        self.user = r.json()["user"]
        if with_role:
            self.grant()

    def grant_path(self):
        return f"projects/{self.project['id']}/users/{self.user['id']}/roles/{self.role['id']}"

    def grant(self):
        r = self.admin.put(self.grant_path())
        assert r.status_code == 204, r.text

    def revoke_grant(self):
        r = self.admin.delete(self.grant_path())
        assert r.status_code == 204, r.text

    def issue(self, scope=None, params=None):
        return post_auth(self.kumo, password_body(self.user["id"], self.password, scope),
                         params=params)

    def token(self, scope=None):
        r = self.issue(scope)
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def project_scope(self):
        return {"project": {"id": self.project["id"]}}


@pytest.fixture
def world(kumo, admin, uniq):
    return World(kumo, admin, uniq)


def check_common(tok, user):
    assert set(tok["user"]) >= {"id", "name", "domain", "password_expires_at"}
    assert tok["user"]["id"] == user["id"]
    assert tok["user"]["name"] == user["name"]
    assert tok["user"]["domain"] == {"id": "default", "name": "Default"}
    assert ISO_US.match(tok["expires_at"]), tok["expires_at"]
    assert ISO_US.match(tok["issued_at"]), tok["issued_at"]
    assert tok["expires_at"] > tok["issued_at"]
    assert 1 <= len(tok["audit_ids"]) <= 2
    for a in tok["audit_ids"]:
        assert re.match(r"^[A-Za-z0-9_-]{22}$", a), a


# ---------------------------------------------------------------- issuing

def test_unscoped_password_token(kumo, world):
    r = world.issue()
    assert r.status_code == 201, r.text
    tok_id = r.headers["X-Subject-Token"]
    assert "=" not in tok_id and len(tok_id) < 255
    assert r.headers["Content-Type"].startswith("application/json")
    tok = r.json()["token"]
    check_common(tok, world.user)
    assert tok["methods"] == ["password"]
    for key in ("project", "domain", "system", "roles", "catalog"):
        assert key not in tok


def test_password_by_name_and_domain_name(kumo, world):
    for dom in ({"id": "default"}, {"name": "Default"}):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": world.user["name"], "domain": dom, "password": world.password}}}}}
        r = post_auth(kumo, body)
        assert r.status_code == 201, r.text
        assert r.json()["token"]["user"]["id"] == world.user["id"]


def test_project_scoped_token(kumo, world):
    for scope in (world.project_scope(),
                  {"project": {"name": world.project["name"], "domain": {"id": "default"}}},
                  {"project": {"name": world.project["name"],
                               "domain": {"name": "Default"}}}):
        r = world.issue(scope)
        assert r.status_code == 201, r.text
        tok = r.json()["token"]
        check_common(tok, world.user)
        assert tok["project"] == {"id": world.project["id"], "name": world.project["name"],
                                  "domain": {"id": "default", "name": "Default"}}
        assert tok["is_domain"] is False
        assert {"id": world.role["id"], "name": world.role["name"]} in tok["roles"]
        types = {s["type"] for s in tok["catalog"]}
        assert "identity" in types
        ident = [s for s in tok["catalog"] if s["type"] == "identity"][0]
        assert {e["interface"] for e in ident["endpoints"]} >= {"public"}
        for e in ident["endpoints"]:
            assert set(e) >= {"id", "interface", "region", "region_id", "url"}


def test_nocatalog(kumo, world):
    r = world.issue(world.project_scope(), params={"nocatalog": ""})
    assert r.status_code == 201, r.text
    assert "catalog" not in r.json()["token"]
    assert "roles" in r.json()["token"]


def test_domain_scoped_token(kumo, admin, world):
    r = admin.put(f"domains/default/users/{world.user['id']}/roles/{world.role['id']}")
    assert r.status_code == 204, r.text
    for scope in ({"domain": {"id": "default"}}, {"domain": {"name": "Default"}}):
        r = world.issue(scope)
        assert r.status_code == 201, r.text
        tok = r.json()["token"]
        assert tok["domain"] == {"id": "default", "name": "Default"}
        assert "project" not in tok
        assert [x["id"] for x in tok["roles"]] == [world.role["id"]]
        assert "catalog" in tok


def test_system_scoped_token(kumo):
    r = kumo.token_response(kumo.admin_user, kumo.admin_password, system=True)
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert tok["system"] == {"all": True}
    assert "admin" in {x["name"] for x in tok["roles"]}
    assert "project" not in tok and "domain" not in tok


def test_no_role_on_scope_is_401(kumo, admin, uniq):
    w = World(kumo, admin, uniq, with_role=False)
    r = w.issue(w.project_scope())
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert w.issue({"domain": {"id": "default"}}).status_code == 401
    assert w.issue({"system": {"all": True}}).status_code == 401
    assert w.issue().status_code == 201


def test_default_project_scoping(kumo, admin, uniq):
    w = World(kumo, admin, uniq, default_project=True)
    tok = w.issue().json()["token"]
    assert tok["project"]["id"] == w.project["id"]
    # explicitly unscoped, both spellings
    for scope in ("unscoped", {"unscoped": {}}):
        r = w.issue(scope)
        assert r.status_code == 201, r.text
        assert "project" not in r.json()["token"]
    # without a role on it the token is unscoped rather than refused
    w.revoke_grant()
    r = w.issue()
    assert r.status_code == 201 and "project" not in r.json()["token"]


def test_token_method_rescope(kumo, world):
    r = world.issue()
    parent_id = r.headers["X-Subject-Token"]
    parent = r.json()["token"]
    r = post_auth(kumo, token_body(parent_id, world.project_scope()))
    assert r.status_code == 201, r.text
    child_id = r.headers["X-Subject-Token"]
    child = r.json()["token"]
    assert sorted(child["methods"]) == ["password", "token"]
    assert child["project"]["id"] == world.project["id"]
    assert child["audit_ids"][1] == parent["audit_ids"][0]
    assert child["audit_ids"][0] != parent["audit_ids"][0]
    assert child["expires_at"] == parent["expires_at"]      # never outlives the parent
    # a third generation keeps the original chain id
    r = post_auth(kumo, token_body(child_id))
    assert r.status_code == 201, r.text
    assert r.json()["token"]["audit_ids"][1] == parent["audit_ids"][0]
    assert r.json()["token"]["expires_at"] == parent["expires_at"]
    # X-Auth-Token is not required, and a bad one does not matter
    r = post_auth(kumo, token_body(parent_id), headers={"X-Auth-Token": "garbage"})
    assert r.status_code == 201, r.text


def test_token_method_with_bad_token(kumo, world):
    r = post_auth(kumo, token_body("gAAAAABnotatoken"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == 404


def test_system_token_cannot_rescope_to_project(kumo):
    sys_tok = kumo.token(kumo.admin_user, kumo.admin_password, system=True)
    r = post_auth(kumo, token_body(sys_tok, {"project": {"name": "admin",
                                                          "domain": {"id": "default"}}}))
    assert r.status_code == 403, r.text


# ---------------------------------------------------------------- errors

def test_bad_credentials(kumo, world):
    r = post_auth(kumo, password_body(world.user["id"], "wrong"))
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert "WWW-Authenticate" in r.headers
    r = post_auth(kumo, password_body("0" * 32, "whatever"))
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": world.user["name"], "domain": {"id": "nosuchdomain"},
        "password": world.password}}}}}
    assert post_auth(kumo, body).status_code == 401
    body["auth"]["identity"]["password"]["user"]["domain"] = {"id": "default"}
    del body["auth"]["identity"]["password"]["user"]["password"]
    assert post_auth(kumo, body).status_code == 401


def test_unknown_scope_is_401(kumo, world):
    for scope in ({"project": {"id": "f" * 32}},
                  {"project": {"name": "nope", "domain": {"id": "default"}}},
                  {"domain": {"id": "nope"}},
                  {"domain": {"name": "nope"}}):
        r = world.issue(scope)
        assert r.status_code == 401, (scope, r.text)
        assert r.json() == UNAUTHORIZED


def test_malformed_bodies_are_400(kumo, world):
    cases = [
        {},
        {"auth": {}},
        {"auth": {"identity": {}}},
        {"auth": {"identity": {"methods": "password"}}},
        {"auth": {"identity": {"methods": ["password"]}}},
        {"auth": {"identity": {"methods": ["password"], "password": {}}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {}}}}},
        {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "x", "password": "y"}}}}},
        {"auth": {"identity": {"methods": ["token"], "token": {}}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": world.user["id"], "password": world.password}}},
            "scope": {"project": {"id": world.project["id"]}, "domain": {"id": "default"}}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": world.user["id"], "password": world.password}}},
            "scope": {"project": {"name": world.project["name"]}}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": world.user["id"], "password": 42}}}}},
    ]
    for body in cases:
        r = post_auth(kumo, body)
        assert r.status_code == 400, (body, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == 400 and err["title"] == "Bad Request" and err["message"]
    r = requests.post(kumo.url + "/v3/auth/tokens", data="{not json",
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400


def test_unsupported_method_is_401(kumo):
    body = {"auth": {"identity": {"methods": ["totp"], "totp": {"user": {"id": "x"}}}}}
    assert post_auth(kumo, body).status_code == 401


def test_disabled_user_cannot_authenticate(kumo, admin, world):
    assert admin.patch(f"users/{world.user['id']}",
                       json={"user": {"enabled": False}}).status_code == 200
    r = world.issue()
    assert r.status_code == 401 and r.json() == UNAUTHORIZED


# ---------------------------------------------------------------- validation

def test_validate_get_and_head(kumo, admin, world):
    r = world.issue(world.project_scope())
    subject = r.headers["X-Subject-Token"]
    issued = r.json()["token"]
    r = validate(kumo, admin.token, subject)
    assert r.status_code == 200, r.text
    assert r.headers["X-Subject-Token"] == subject
    tok = r.json()["token"]
    for key in ("methods", "user", "audit_ids", "expires_at", "issued_at", "project",
                "is_domain", "roles"):
        assert tok[key] == issued[key], key
    assert "catalog" in tok
    r = validate(kumo, admin.token, subject, params={"nocatalog": "1"})
    assert r.status_code == 200 and "catalog" not in r.json()["token"]
    r = validate(kumo, admin.token, subject, method="HEAD")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["X-Subject-Token"] == subject


def test_validate_own_token_and_others(kumo, admin, world, uniq):
    mine = world.token(world.project_scope())
    assert validate(kumo, mine, mine).status_code == 200
    assert validate(kumo, mine, mine, method="HEAD").status_code == 200
    other = World(kumo, admin, uniq + "b")
    theirs = other.token(other.project_scope())
    r = validate(kumo, mine, theirs)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == 403
    assert validate(kumo, mine, theirs, method="HEAD").status_code == 403
    # nor may they revoke it
    r = requests.delete(kumo.url + "/v3/auth/tokens", timeout=30,
                        headers={"X-Auth-Token": mine, "X-Subject-Token": theirs})
    assert r.status_code == 403
    assert validate(kumo, admin.token, theirs).status_code == 200


def test_invalid_subject_tokens_are_404(kumo, admin, world):
    good = world.token()
    for bad in ("garbage", good[:-5], good[:20] + ("A" if good[20] != "A" else "B") + good[21:],
                "gAAAAAB" + "A" * 200):
        r = validate(kumo, admin.token, bad)
        assert r.status_code == 404, (bad, r.text)
        assert r.json()["error"]["title"] == "Not Found"
    r = requests.get(kumo.url + "/v3/auth/tokens", headers={"X-Auth-Token": admin.token},
                     timeout=30)
    assert r.status_code == 404
    # without X-Auth-Token at all
    r = requests.get(kumo.url + "/v3/auth/tokens", headers={"X-Subject-Token": good},
                     timeout=30)
    assert r.status_code == 401
    # a garbled token as X-Auth-Token
    r = requests.get(kumo.url + "/v3/users", headers={"X-Auth-Token": good[:-3]}, timeout=30)
    assert r.status_code == 401


def test_token_never_echoed_in_errors(kumo, admin, world):
    """Keystone says "Could not find token: <token>"; a token is a secret, so Kumo doesn't."""
    good = world.token()
    bad = good[:-5]
    for r in (validate(kumo, admin.token, bad), validate(kumo, admin.token, bad, method="HEAD"),
              post_auth(kumo, token_body(bad)),
              requests.delete(kumo.url + "/v3/auth/tokens", timeout=30,
                              headers={"X-Auth-Token": admin.token, "X-Subject-Token": bad})):
        assert r.status_code == 404, r.text
        assert bad[:40] not in r.text
        if r.content:
            assert r.json()["error"]["message"] == "Could not find token."
    # nor a password, in a malformed body or in a type error
    secret = "s3cret-" + world.password
    r = requests.post(kumo.url + "/v3/auth/tokens", timeout=30,
                      data='{"auth": {"identity": {"password": "' + secret,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and secret not in r.text
    r = admin.post("users", json={"user": {"name": "echo-" + world.password, "password": 42}})
    assert r.status_code == 400 and "42" not in r.json()["error"]["message"]
    r = requests.post(f"{kumo.url}/v3/users/{world.user['id']}/password", timeout=30,
                      json={"user": {"original_password": ["leak-" + secret], "password": "x"}})
    assert r.status_code == 400 and secret not in r.text
    # nor when the error quotes the whole object (a missing or unknown member)
    r = admin.post("users", json={"user": {"password": secret}})
    assert r.status_code == 400 and "name" in r.text and secret not in r.text
    r = admin.post(f"users/{world.user['id']}/application_credentials",
                   json={"application_credential": {"secret": secret}})
    assert r.status_code in (400, 403) and secret not in r.text
    r = admin.post("credentials", json={"credential": {"blob": secret, "type": "x"}})
    assert r.status_code == 400 and secret not in r.text


def test_delete_revokes(kumo, admin, world):
    subject = world.token(world.project_scope())
    assert validate(kumo, admin.token, subject).status_code == 200
    r = requests.delete(kumo.url + "/v3/auth/tokens", timeout=30,
                        headers={"X-Auth-Token": admin.token, "X-Subject-Token": subject})
    assert r.status_code == 204
    r = validate(kumo, admin.token, subject)
    assert r.status_code == 404
    assert r.json()["error"]["message"].startswith("Could not find token")
    # the revoked token no longer authenticates
    r = requests.get(kumo.url + "/v3/auth/projects", headers={"X-Auth-Token": subject},
                     timeout=30)
    assert r.status_code == 401
    # deleting it again: 404
    r = requests.delete(kumo.url + "/v3/auth/tokens", timeout=30,
                        headers={"X-Auth-Token": admin.token, "X-Subject-Token": subject})
    assert r.status_code == 404
    # a user may revoke their own token, and a new token works right away
    mine = world.token()
    r = requests.delete(kumo.url + "/v3/auth/tokens", timeout=30,
                        headers={"X-Auth-Token": mine, "X-Subject-Token": mine})
    assert r.status_code == 204
    fresh = world.token()
    assert validate(kumo, fresh, fresh).status_code == 200


def test_revoked_by_user_disable(kumo, admin, world):
    scoped = world.token(world.project_scope())
    unscoped = world.token()
    assert admin.patch(f"users/{world.user['id']}",
                       json={"user": {"enabled": False}}).status_code == 200
    assert validate(kumo, admin.token, scoped).status_code == 404
    assert validate(kumo, admin.token, unscoped).status_code == 404
    assert admin.patch(f"users/{world.user['id']}",
                       json={"user": {"enabled": True}}).status_code == 200
    # re-enabling does not resurrect old tokens; new ones work at once
    assert validate(kumo, admin.token, scoped).status_code == 404
    fresh = world.token(world.project_scope())
    assert validate(kumo, admin.token, fresh).status_code == 200


def test_revoked_by_password_change(kumo, admin, world):
    old = world.token(world.project_scope())
    r = admin.patch(f"users/{world.user['id']}", json={"user": {"password": "new-pw"}})
    assert r.status_code == 200, r.text
    assert validate(kumo, admin.token, old).status_code == 404
    assert world.issue().status_code == 401           # the old password is gone
    world.password = "new-pw"
    fresh = world.token(world.project_scope())         # same second: still valid
    assert validate(kumo, admin.token, fresh).status_code == 200


def test_revoked_by_self_service_password_change(kumo, admin, world):
    mine = world.token()
    r = requests.post(kumo.url + f"/v3/users/{world.user['id']}/password", timeout=30,
                      headers={"X-Auth-Token": mine},
                      json={"user": {"password": "changed-pw",
                                     "original_password": world.password}})
    assert r.status_code == 204, r.text
    assert validate(kumo, admin.token, mine).status_code == 404


def test_revoked_by_assignment_removal(kumo, admin, world):
    scoped = world.token(world.project_scope())
    unscoped = world.token()
    world.revoke_grant()
    assert validate(kumo, admin.token, scoped).status_code == 404
    assert validate(kumo, admin.token, unscoped).status_code == 200
    assert world.issue(world.project_scope()).status_code == 401
    world.grant()
    assert validate(kumo, admin.token, scoped).status_code == 404
    assert world.issue(world.project_scope()).status_code == 201


def test_revoked_by_project_disable(kumo, admin, world):
    scoped = world.token(world.project_scope())
    r = admin.patch(f"projects/{world.project['id']}", json={"project": {"enabled": False}})
    assert r.status_code == 200, r.text
    assert validate(kumo, admin.token, scoped).status_code == 404
    assert world.issue(world.project_scope()).status_code == 401


def test_role_deletion_invalidates(kumo, admin, world):
    scoped = world.token(world.project_scope())
    assert admin.delete(f"roles/{world.role['id']}").status_code == 204
    assert validate(kumo, admin.token, scoped).status_code == 404


# ---------------------------------------------------------------- /v3/auth/*

def test_auth_catalog_projects_domains_system(kumo, admin, world):
    scoped = Api(kumo.url, world.token(world.project_scope()))
    unscoped = Api(kumo.url, world.token())
    r = scoped.get("auth/catalog")
    assert r.status_code == 200, r.text
    assert "identity" in {s["type"] for s in r.json()["catalog"]}
    assert r.json()["links"]["self"].endswith("/v3/auth/catalog")
    assert unscoped.get("auth/catalog").status_code == 403

    r = unscoped.get("auth/projects")
    assert r.status_code == 200, r.text
    projects = r.json()["projects"]
    assert [p["id"] for p in projects] == [world.project["id"]]
    assert projects[0]["links"]["self"].endswith("/v3/projects/" + world.project["id"])
    assert r.json()["links"]["self"].endswith("/v3/auth/projects")

    r = unscoped.get("auth/domains")
    assert r.status_code == 200 and r.json()["domains"] == []
    r = unscoped.get("auth/system")
    assert r.status_code == 200 and r.json()["system"] == []

    r = admin.get("auth/system")
    assert r.status_code == 200 and r.json()["system"] == [{"all": True}]
    r = admin.get("auth/projects")
    assert "admin" in {p["name"] for p in r.json()["projects"]}
    assert requests.get(kumo.url + "/v3/auth/projects", timeout=30).status_code == 401


# ---------------------------------------------------------------- expiry

@pytest.fixture(scope="module")
def short_kumo(kumo, tmp_path_factory):
    """A second server whose tokens live 2 seconds."""
    d = tmp_path_factory.mktemp("short")
    k = Kumo(kumo.bin, d, free_port(), f"sqlite:///{d / 'identity.db'}")
    k.write_config()
    k.conf.write_text(k.conf.read_text().replace("token_expiration = 3600",
                                                 "token_expiration = 2"))
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        yield k
    finally:
        k.stop()


def test_expired_tokens(short_kumo):
    k = short_kumo
    caller = k.token(k.admin_user, k.admin_password, project=k.admin_project)
    subject = k.token(k.admin_user, k.admin_password)
    assert validate(k, caller, subject).status_code == 200
    time.sleep(3.1)
    # the caller's own token expired too: 401
    assert validate(k, caller, subject).status_code == 401
    caller2 = k.token(k.admin_user, k.admin_password, project=k.admin_project)
    r = validate(k, caller2, subject)
    assert r.status_code == 404, r.text
    r = validate(k, caller2, subject, params={"allow_expired": "true"})
    assert r.status_code == 200, r.text
    expires = datetime.datetime.strptime(r.json()["token"]["expires_at"],
                                         "%Y-%m-%dT%H:%M:%S.%fZ")
    assert expires < datetime.datetime.utcnow()
    r = validate(k, caller, caller2)
    assert r.status_code == 401
    # an expired token cannot make a new one
    assert post_auth(k, token_body(subject)).status_code == 404


def test_fernet_rotation_keeps_tokens(kumo, admin):
    # one rotation: the old primary stays active (max_active_keys = 3)
    before = kumo.token(kumo.admin_user, kumo.admin_password)
    kumo.manage("fernet-rotate")
    time.sleep(1.2)          # the server notices the repository changed
    assert validate(kumo, admin.token, before).status_code == 200
    after = kumo.token(kumo.admin_user, kumo.admin_password)
    assert validate(kumo, after, before).status_code == 200
    assert validate(kumo, admin.token, after).status_code == 200


# ---------------------------------------------------------------- application credentials

def appcred_body(secret, ac_id=None, name=None, user=None, scope=None):
    ac = {"secret": secret}
    if ac_id:
        ac["id"] = ac_id
    if name:
        ac["name"] = name
    if user:
        ac["user"] = user
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": ac}}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def test_application_credential_auth(kumo, admin, world, uniq):
    """Issue with an application credential by id and by name+user: project scope from the
    credential, only its roles, "application_credential" in the token; its limits."""
    reader = [r for r in admin.get("roles", params={"name": "reader"}).json()["roles"]]
    tok = world.token(world.project_scope())
    api = Api(kumo.url, tok)
    uid = world.user["id"]
    # the world's role implies nothing: give the user reader too, then restrict to it
    r = admin.put(f"projects/{world.project['id']}/users/{uid}/roles/{reader[0]['id']}")
    assert r.status_code == 204
    tok = world.token(world.project_scope())
    api = Api(kumo.url, tok)
    r = api.post(f"users/{uid}/application_credentials",
                 json={"application_credential": {"name": "ac-" + uniq,
                                                  "roles": [{"name": "reader"}]}})
    assert r.status_code == 201, r.text
    ac = r.json()["application_credential"]
    secret = ac["secret"]
    assert ac["project_id"] == world.project["id"] and ac["unrestricted"] is None
    assert [x["id"] for x in ac["roles"]] == [reader[0]["id"]]

    r = post_auth(kumo, appcred_body(secret, ac_id=ac["id"]))
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    assert t["methods"] == ["application_credential"]
    assert t["project"]["id"] == world.project["id"]
    assert [x["id"] for x in t["roles"]] == [reader[0]["id"]]
    assert t["application_credential"] == {"id": ac["id"], "name": "ac-" + uniq,
                                           "restricted": True}
    actok = r.headers["X-Subject-Token"]
    v = validate(kumo, admin.token, actok)
    assert v.status_code == 200 and v.json()["token"]["application_credential"]["id"] == ac["id"]
    assert [x["name"] for x in v.json()["token"]["roles"]] == ["reader"]

    # by name and user (id, or name + domain)
    r = post_auth(kumo, appcred_body(secret, name="ac-" + uniq, user={"id": uid}))
    assert r.status_code == 201, r.text
    r = post_auth(kumo, appcred_body(secret, name="ac-" + uniq,
                                     user={"name": world.user["name"],
                                           "domain": {"id": "default"}}))
    assert r.status_code == 201, r.text
    # wrong secret, unknown id or name, a scope asked for: 401
    assert post_auth(kumo, appcred_body("nope", ac_id=ac["id"])).json() == UNAUTHORIZED
    assert post_auth(kumo, appcred_body(secret, ac_id="0" * 32)).status_code == 401
    assert post_auth(kumo, appcred_body(secret, name="x" + uniq,
                                        user={"id": uid})).status_code == 401
    assert post_auth(kumo, appcred_body(secret, ac_id=ac["id"],
                                        scope=world.project_scope())).status_code == 401
    # incomplete data: 400
    assert post_auth(kumo, appcred_body(secret)).status_code == 400
    assert post_auth(kumo, appcred_body(secret, name="ac-" + uniq)).status_code == 400
    # a delegated token can't be exchanged, nor manage credentials when restricted
    r = post_auth(kumo, token_body(actok))
    assert r.status_code == 403, r.text
    acapi = Api(kumo.url, actok)
    r = acapi.post(f"users/{uid}/application_credentials",
                   json={"application_credential": {"name": "nested-" + uniq}})
    assert r.status_code == 403, r.text
    assert acapi.get(f"users/{uid}/application_credentials").status_code == 200
    assert acapi.get("credentials").json()["credentials"] == []

    # losing the role the credential carries: its tokens stop working, and (as in
    # Keystone) a removed direct grant deletes the user's credentials on the project
    r = admin.delete(f"projects/{world.project['id']}/users/{uid}/roles/{reader[0]['id']}")
    assert r.status_code == 204
    assert validate(kumo, admin.token, actok).status_code == 404
    assert api.get(f"users/{uid}/application_credentials/{ac['id']}").status_code in (401, 404)


def test_application_credential_expiry_and_delete(kumo, admin, world, uniq):
    tok = world.token(world.project_scope())
    api = Api(kumo.url, tok)
    uid = world.user["id"]
    soon = (datetime.datetime.utcnow() + datetime.timedelta(seconds=3)).isoformat()
    r = api.post(f"users/{uid}/application_credentials",
                 json={"application_credential": {"name": "exp-" + uniq, "expires_at": soon,
                                                  "secret": "my-own-secret-" + uniq,
                                                  "unrestricted": True}})
    assert r.status_code == 201, r.text
    ac = r.json()["application_credential"]
    assert ac["secret"] == "my-own-secret-" + uniq and ac["unrestricted"] is True
    assert ac["expires_at"].startswith(soon[:19])
    r = post_auth(kumo, appcred_body("my-own-secret-" + uniq, ac_id=ac["id"]))
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    # the token never outlives the credential
    assert t["expires_at"][:19] <= ac["expires_at"][:19]
    assert t["application_credential"]["restricted"] is False
    actok = r.headers["X-Subject-Token"]
    # an unrestricted credential's token may manage credentials
    r = Api(kumo.url, actok).post(f"users/{uid}/application_credentials",
                                  json={"application_credential": {"name": "n2-" + uniq}})
    assert r.status_code == 201, r.text
    ac2 = r.json()["application_credential"]
    time.sleep(3.2)
    assert post_auth(kumo, appcred_body("my-own-secret-" + uniq,
                                        ac_id=ac["id"])).status_code == 401
    assert validate(kumo, admin.token, actok).status_code == 404
    # deleting a credential ends its tokens
    r = post_auth(kumo, appcred_body(ac2["secret"], ac_id=ac2["id"]))
    assert r.status_code == 201
    t2 = r.headers["X-Subject-Token"]
    assert api.delete(f"users/{uid}/application_credentials/{ac2['id']}").status_code == 204
    assert validate(kumo, admin.token, t2).status_code == 404
    assert post_auth(kumo, appcred_body(ac2["secret"], ac_id=ac2["id"])).status_code == 401
    # deleting the user deletes its credentials
    assert admin.delete(f"users/{uid}").status_code == 204
    assert admin.get(f"users/{uid}/application_credentials/{ac['id']}").status_code == 404


def test_application_credential_access_rules(kumo, admin, world, uniq):
    """A credential with access rules: its tokens are only for validators that enforce the
    rules (OpenStack-Identity-Access-Rules >= 1.0); Kumo's own services don't, so they refuse
    them, as Keystone refuses them to an old keystonemiddleware."""
    api = Api(kumo.url, world.token(world.project_scope()))
    uid = world.user["id"]
    rules = [{"service": "compute", "method": "GET", "path": "/v2.1/servers"}]
    r = api.post(f"users/{uid}/application_credentials",
                 json={"application_credential": {"name": "ar-" + uniq, "access_rules": rules}})
    assert r.status_code == 201, r.text
    ac = r.json()["application_credential"]
    r = post_auth(kumo, appcred_body(ac["secret"], ac_id=ac["id"]))
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    assert [{k: x[k] for k in ("service", "method", "path")}
            for x in t["application_credential"]["access_rules"]] == rules
    tok = r.headers["X-Subject-Token"]
    assert Api(kumo.url, tok).get(f"users/{uid}").status_code == 401
    assert validate(kumo, admin.token, tok).status_code == 404
    r = requests.get(kumo.url + "/v3/auth/tokens", timeout=30,
                     headers={"X-Auth-Token": admin.token, "X-Subject-Token": tok,
                              "OpenStack-Identity-Access-Rules": "1.0"})
    assert r.status_code == 200, r.text
    assert r.json()["token"]["application_credential"]["access_rules"][0]["path"] == \
        "/v2.1/servers"
