"""Helpers for the Network API tests (test_network_ports.py,
test_network_secgroups.py): a Neutron client on the session kumo, projects
with member users, a network with a subnet per project, and the real
`openstack` CLI as one of those users.
"""

import os
import shutil
import subprocess
import tempfile
import uuid

import requests

from conftest import Api

OPENSTACK = "/usr/bin/openstack"
NEUTRON = "/usr/bin/neutron"


def network_url(kumo):
    url = getattr(kumo, "network_url", None)
    if url:
        return url
    return f"http://127.0.0.1:{kumo.network_port}"


class NeutronApi(Api):
    """Client for the Network API; paths are relative to /v2.0."""

    def url(self, path):
        if path.startswith("http"):
            return path
        return f"{self.base}/v2.0/{path.lstrip('/')}"


def ok(r, code=200):
    assert r.status_code == code, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    return r.json() if r.text else None


def err(r, code):
    """The NeutronError of an error answer (type, message, detail)."""
    assert r.status_code == code, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    body = r.json()
    assert set(body) == {"NeutronError"}, body
    e = body["NeutronError"]
    assert set(e) == {"type", "message", "detail"}, e
    return e


class Env:
    """Two projects (a, b) with a member user each, and the admin; clients
    for the Network API as each of them."""

    def __init__(self, kumo, admin, tag):
        self.kumo = kumo
        self.id_admin = admin
        self.tag = f"{tag}-{uuid.uuid4().hex[:6]}"
        self.pw = "pw-" + uuid.uuid4().hex[:8]
        self.url = network_url(kumo)
        roles = {r["name"]: r["id"] for r in ok(admin.get("roles"))["roles"]}
        for name in ("member", "reader"):
            if name not in roles:
                roles[name] = ok(admin.post("roles", {"role": {"name": name}}),
                                 201)["role"]["id"]
        self.roles = roles
        self.admin = NeutronApi(self.url, admin.token)
        self.admin_project = self._admin_project_id()
        self.a = self.new_project("a")
        self.b = self.new_project("b")
        self.project_a, self.user_a = self.a.project_id, self.a.user_name
        self.project_b, self.user_b = self.b.project_id, self.b.user_name
        self._networks = {}

    def _admin_project_id(self):
        r = requests.get(self.kumo.url + "/v3/auth/tokens", headers={
            "X-Auth-Token": self.id_admin.token, "X-Subject-Token": self.id_admin.token},
            timeout=30)
        return r.json()["token"]["project"]["id"]

    def new_project(self, name, role="member"):
        admin = self.id_admin
        pname = f"net-{name}-{self.tag}"
        proj = ok(admin.post("projects", {"project": {"name": pname, "domain_id": "default"}}),
                  201)["project"]
        user = ok(admin.post("users", {"user": {"name": pname, "password": self.pw,
                                                "domain_id": "default"}}), 201)["user"]
        ok(admin.put(f"projects/{proj['id']}/users/{user['id']}/roles/{self.roles[role]}"),
           204)
        c = NeutronApi(self.url, self.kumo.token(pname, self.pw, project=proj["id"]))
        c.project_id = proj["id"]
        c.user_name = pname
        return c

    def default_group(self, api):
        groups = ok(api.get("security-groups", params={"name": "default"}))["security_groups"]
        mine = [g for g in groups if g["project_id"] == getattr(api, "project_id",
                                                               self.admin_project)]
        assert len(mine) == 1, groups
        return mine[0]

    def network(self, api, cidr=None, key=None, **net):
        """A network with one IPv4 subnet owned by api's project (cached by key)."""
        k = key or (id(api), cidr)
        if k in self._networks:
            return self._networks[k]
        body = {"name": "n-" + uuid.uuid4().hex[:8]}
        body.update(net)
        n = ok(api.post("networks", {"network": body}), 201)["network"]
        s = ok(api.post("subnets", {"subnet": {
            "network_id": n["id"], "ip_version": 4,
            "cidr": cidr or f"10.{len(self._networks) % 200 + 20}.0.0/24"}}), 201)["subnet"]
        n["subnet"] = s
        self._networks[k] = n
        return n


def openstack_cli(kumo, user, password, project, tool=OPENSTACK):
    """A function running the real CLI as user in project (password auth);
    returns stdout, or the CompletedProcess with check=False."""
    home = tempfile.mkdtemp(prefix="kumo-cli-")
    env = {
        "PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
        "OS_AUTH_URL": kumo.url + "/v3", "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user, "OS_PASSWORD": password, "OS_PROJECT_ID": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": kumo.region, "OS_INTERFACE": "public",
    }

    def run(*args, check=True, binary=None):
        p = subprocess.run([binary or tool, *args], env=env, capture_output=True, text=True,
                           timeout=120)
        if check:
            assert p.returncode == 0, f"{' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
            return p.stdout
        return p

    run.home = home
    return run


def cli_available(tool=OPENSTACK):
    return os.path.exists(tool) and shutil.which("python3") is not None
