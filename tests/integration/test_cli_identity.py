"""The seed's Identity walk-through, replayed with the real `openstack` CLI.

The seed (section 3.4) sets up Keystone by hand: with the bootstrap token
(OS_TOKEN/OS_URL) it creates the admin and demo projects, users and roles, the
service project, the identity service and its three endpoints, lists them,
then drops the token and asks for a password token with --os-* flags, and
finally writes admin-openrc.sh / demo-openrc.sh.  This module does exactly
that against a Kumo of its own: db-sync and fernet-setup only, no bootstrap,
[DEFAULT] admin_token set, public port + admin port (the seed's 5000/35357).
Then it goes on with what an operator does next: change a password, remove a
role, revoke a token, delete a user, and checks that the demo user is refused
admin calls.

Both output forms are checked: the seed's plain tables (parsed) and `-f json`.
Tests run in file order and build on each other (module-scoped server).

Note on the bootstrap token: the seed's `OS_URL` is no longer read by the
openstackclient of Debian 12 (6.0); its spelling today is
`OS_AUTH_TYPE=admin_token` + `OS_ENDPOINT`.  Both are set, next to the seed's
OS_TOKEN / OS_URL / OS_IDENTITY_API_VERSION.

Environment: as conftest.py; KUMO_TEST_CLI_DB_URL (an empty database for
this module's server; default SQLite: KUMO_TEST_DB_URL belongs to the session
server of conftest.py and must not be shared).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from conftest import Kumo, _kumo_bin, free_port

OPENSTACK = "/usr/bin/openstack"
HEX32 = re.compile(r"^[0-9a-f]{32}$")

pytestmark = pytest.mark.skipif(not os.path.exists(OPENSTACK),
                                reason="python3-openstackclient is not installed")


# ---------------------------------------------------------------- the server

class SeedKumo(Kumo):
    """A Kumo as the seed starts Keystone: admin token, two ports, empty DB."""

    def __init__(self, binary, tmpdir, port, admin_port, db_url):
        super().__init__(binary, tmpdir, port, db_url)
        self.admin_port = admin_port
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        self.admin_token = uuid.uuid4().hex[:20]      # the seed's "openssl rand -hex 10"
        self.admin_password = "admin"                 # the seed's admin-openrc.sh
        self.ids = {}

    def write_config(self):
        super().write_config()
        text = self.conf.read_text()
        if f"admin_token = {self.admin_token}\n" not in text:
            text = text.replace("[DEFAULT]\n",
                                f"[DEFAULT]\nadmin_token = {self.admin_token}\n", 1)
        text = text.replace("admin_port = 0\n", f"admin_port = {self.admin_port}\n", 1)
        assert f"admin_port = {self.admin_port}" in text
        self.conf.write_text(text)

    def start(self):
        super().start()
        deadline = time.time() + 30
        while True:
            try:
                requests.get(self.admin_url + "/v3", timeout=1)
                return
            except requests.RequestException:
                if time.time() > deadline:
                    raise RuntimeError("admin port does not answer:\n" + self.output())
                time.sleep(0.1)


@pytest.fixture(scope="module")
def seed():
    binary = _kumo_bin()
    if not binary.exists():
        pytest.skip(f"kumo binary not found at {binary} (set KUMO_BIN)")
    tmpdir = Path(tempfile.mkdtemp(prefix="kumo-cli-"))
    db_url = os.environ.get("KUMO_TEST_CLI_DB_URL") or f"sqlite:///{tmpdir / 'identity.db'}"
    k = SeedKumo(binary, tmpdir, free_port(), free_port(), db_url)
    k.write_config()
    k.home = tmpdir / "home"              # no ~/.config/openstack of the user leaks in
    k.home.mkdir()
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.start()
        yield k
        # The server must stop cleanly on SIGTERM: under ASan a leak or any
        # sanitizer report at exit makes the status non-zero.
        k.stop()
        assert k.proc.returncode == 0, \
            f"kumo exited with status {k.proc.returncode} after SIGTERM:\n{k.output()}"
    finally:
        k.stop()
        if not os.environ.get("KUMO_TEST_KEEP"):
            shutil.rmtree(tmpdir, ignore_errors=True)


# ---------------------------------------------------------------- the CLI

def osc(seed, *args, env=None, ok=True, fmt=None):
    """Run /usr/bin/openstack with only the OS_* variables given in env."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    e["HOME"] = str(seed.home)
    e.update(env or {})
    cmd = [OPENSTACK, *args]
    if fmt:
        cmd += ["-f", fmt]
    r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=180,
                       stdin=subprocess.DEVNULL)
    if ok:
        assert r.returncode == 0, (f"{' '.join(cmd)} -> {r.returncode}\n"
                                   f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    if fmt == "json" and r.returncode == 0:
        return json.loads(r.stdout) if r.stdout.strip() else None
    return r if not ok else r.stdout


def token_env(seed):
    """The seed's bootstrap-token environment (plus today's spelling)."""
    url = seed.admin_url + "/v3"
    return {"OS_TOKEN": seed.admin_token, "OS_URL": url, "OS_IDENTITY_API_VERSION": "3",
            "OS_AUTH_TYPE": "admin_token", "OS_ENDPOINT": url}


def password_env(seed, user, password, project, admin_port=False):
    """What admin-openrc.sh / demo-openrc.sh export."""
    return {"OS_PROJECT_DOMAIN_ID": "default", "OS_USER_DOMAIN_ID": "default",
            "OS_PROJECT_NAME": project, "OS_TENANT_NAME": project,
            "OS_USERNAME": user, "OS_PASSWORD": password,
            "OS_AUTH_URL": (seed.admin_url if admin_port else seed.url) + "/v3",
            "OS_IDENTITY_API_VERSION": "3"}


def admin_env(seed):
    return password_env(seed, "admin", seed.admin_password, "admin", admin_port=True)


def parse_table(text):
    """Rows of a prettytable as lists of cell strings (header first)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            rows.append([c.strip() for c in line[1:-1].split("|")])
    return rows


def show_table(text):
    """A `show`/`create` table (Field | Value) as a dict."""
    rows = parse_table(text)
    assert rows and rows[0] == ["Field", "Value"], text
    return {r[0]: r[1] for r in rows[1:]}


def list_table(text):
    """A `list` table as a list of dicts keyed by the header."""
    rows = parse_table(text)
    assert rows, text
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def assert_future_iso(s):
    """An ISO 8601 UTC time in the future: the API's "...Z" or the CLI's "+0000"."""
    assert re.search(r"(Z|[+-]00:?00)$", s), s
    t = datetime.fromisoformat(re.sub(r"(Z|[+-]00:?00)$", "+00:00", s))
    assert t > datetime.now(timezone.utc), s


# ---------------------------------------------------------------- the seed, in order

def test_00_db_sync_made_the_default_domain(seed):
    # The seed runs `project create --domain default` right after db_sync with
    # only the admin token: the Keystone it used (Liberty) created domain
    # "default" (name "Default") in db_sync.
    h = {"X-Auth-Token": seed.admin_token}
    r = requests.get(seed.admin_url + "/v3/domains/default", headers=h, timeout=30)
    if r.status_code == 404:
        # create it so the rest of the walk-through still runs, then fail here
        requests.post(seed.admin_url + "/v3/domains", headers=h, timeout=30, json={
            "domain": {"name": "Default", "explicit_domain_id": "default"}})
        pytest.fail("db-sync did not create domain 'default' (the seed needs it before "
                    "any bootstrap)")
    assert r.status_code == 200, r.text
    d = r.json()["domain"]
    assert d["id"] == "default" and d["name"] == "Default" and d["enabled"] is True


def test_01_admin_token_creates_admin(seed):
    t = token_env(seed)
    p = show_table(osc(seed, "project", "create", "--domain", "default",
                       "--description", "Admin Project", "admin", env=t))
    assert p["name"] == "admin" and p["description"] == "Admin Project"
    assert p["domain_id"] == "default" and p["enabled"] == "True" and p["is_domain"] == "False"
    assert HEX32.match(p["id"]), p
    seed.ids["project_admin"] = p["id"]

    u = show_table(osc(seed, "user", "create", "--domain", "default",
                       "--password", seed.admin_password, "admin", env=t))
    assert u["name"] == "admin" and u["domain_id"] == "default" and u["enabled"] == "True"
    assert HEX32.match(u["id"]) and "password" not in u, u
    seed.ids["user_admin"] = u["id"]

    r = show_table(osc(seed, "role", "create", "admin", env=t))
    assert r["name"] == "admin" and HEX32.match(r["id"]), r
    seed.ids["role_admin"] = r["id"]

    out = osc(seed, "role", "add", "--project", "admin", "--user", "admin", "admin", env=t)
    assert out.strip() == ""


def test_02_admin_token_creates_demo_and_service(seed):
    t = token_env(seed)
    p = show_table(osc(seed, "project", "create", "--domain", "default",
                       "--description", "Demo Project", "demo", env=t))
    assert p["name"] == "demo" and p["description"] == "Demo Project"
    seed.ids["project_demo"] = p["id"]

    u = osc(seed, "user", "create", "--domain", "default", "--password=demo", "demo",
            env=t, fmt="json")
    assert u["name"] == "demo" and u["domain_id"] == "default" and u["enabled"] is True
    seed.ids["user_demo"] = u["id"]

    r = show_table(osc(seed, "role", "create", "user", env=t))
    assert r["name"] == "user"
    seed.ids["role_user"] = r["id"]
    osc(seed, "role", "add", "--project", "demo", "--user", "demo", "user", env=t)

    s = show_table(osc(seed, "project", "create", "--domain", "default",
                       "--description", "Service Project", "service", env=t))
    assert s["name"] == "service" and s["description"] == "Service Project"
    seed.ids["project_service"] = s["id"]


def test_03_lists(seed):
    t = token_env(seed)
    users = list_table(osc(seed, "user", "list", env=t))
    assert set(users[0]) == {"ID", "Name"}
    assert {u["Name"]: u["ID"] for u in users} == {
        "admin": seed.ids["user_admin"], "demo": seed.ids["user_demo"]}

    projects = list_table(osc(seed, "project", "list", env=t))
    assert {p["Name"]: p["ID"] for p in projects} == {
        "admin": seed.ids["project_admin"], "demo": seed.ids["project_demo"],
        "service": seed.ids["project_service"]}

    roles = list_table(osc(seed, "role", "list", env=t))
    assert {r["Name"]: r["ID"] for r in roles} == {
        "admin": seed.ids["role_admin"], "user": seed.ids["role_user"]}

    # the same with -f json
    names = {u["Name"] for u in osc(seed, "user", "list", env=t, fmt="json")}
    assert names == {"admin", "demo"}

    # the assignments the seed made
    ra = osc(seed, "role", "assignment", "list", "--names", env=t, fmt="json")
    got = {(a["Role"], a["User"], a["Project"]) for a in ra}
    assert ("admin", "admin@Default", "admin@Default") in got, ra
    assert ("user", "demo@Default", "demo@Default") in got, ra


def test_04_service_and_endpoints(seed):
    t = token_env(seed)
    s = show_table(osc(seed, "service", "create", "--name", "keystone",
                       "--description", "OpenStack Identity", "identity", env=t))
    assert s["name"] == "keystone" and s["type"] == "identity"
    assert s["description"] == "OpenStack Identity" and s["enabled"] == "True"
    assert HEX32.match(s["id"]), s
    seed.ids["service_keystone"] = s["id"]

    urls = {"public": seed.url + "/v3", "internal": seed.url + "/v3",
            "admin": seed.admin_url + "/v3"}
    for iface, url in urls.items():
        e = show_table(osc(seed, "endpoint", "create", "--region", "RegionOne",
                           "identity", iface, url, env=t))
        assert e["interface"] == iface and e["url"] == url
        assert e["region"] == "RegionOne" and e["region_id"] == "RegionOne"
        assert e["service_id"] == s["id"] and e["service_name"] == "keystone"
        assert e["service_type"] == "identity" and e["enabled"] == "True"
        seed.ids["endpoint_" + iface] = e["id"]

    eps = list_table(osc(seed, "endpoint", "list", env=t))
    assert set(eps[0]) == {"ID", "Region", "Service Name", "Service Type", "Enabled",
                           "Interface", "URL"}
    assert {(e["Interface"], e["URL"]) for e in eps} == set(urls.items())
    for e in eps:
        assert (e["Region"], e["Service Name"], e["Service Type"], e["Enabled"]) == \
            ("RegionOne", "keystone", "identity", "True")

    svcs = list_table(osc(seed, "service", "list", env=t))
    assert [(x["ID"], x["Name"], x["Type"]) for x in svcs] == [(s["id"], "keystone", "identity")]


def test_05_password_token_issue_with_flags(seed):
    # the seed: unset OS_TOKEN OS_URL; openstack --os-auth-url ... token issue
    r = osc(seed, "--os-auth-url", seed.admin_url + "/v3",
            "--os-project-domain-id", "default", "--os-user-domain-id", "default",
            "--os-project-name", "admin", "--os-username", "admin",
            "--os-auth-type", "password", "token", "issue",
            env={"OS_PASSWORD": seed.admin_password})
    tok = show_table(r)
    assert set(tok) == {"expires", "id", "project_id", "user_id"}
    assert tok["project_id"] == seed.ids["project_admin"]
    assert tok["user_id"] == seed.ids["user_admin"]
    assert_future_iso(tok["expires"])
    assert len(tok["id"]) > 32

    # the same with the password given as a flag and the json output
    tok = osc(seed, "--os-auth-url", seed.admin_url + "/v3",
              "--os-project-domain-id", "default", "--os-user-domain-id", "default",
              "--os-project-name", "admin", "--os-username", "admin",
              "--os-password", seed.admin_password,
              "--os-auth-type", "password", "token", "issue", fmt="json")
    assert tok["project_id"] == seed.ids["project_admin"]


def test_06_openrc_files(seed, tmp_path):
    # admin-openrc.sh / demo-openrc.sh exactly as the seed writes them
    files = {
        "admin-openrc.sh": password_env(seed, "admin", seed.admin_password, "admin", True),
        "demo-openrc.sh": password_env(seed, "demo", "demo", "demo"),
    }
    order = ["OS_PROJECT_DOMAIN_ID", "OS_USER_DOMAIN_ID", "OS_PROJECT_NAME", "OS_TENANT_NAME",
             "OS_USERNAME", "OS_PASSWORD", "OS_AUTH_URL", "OS_IDENTITY_API_VERSION"]
    for name, env in files.items():
        (tmp_path / name).write_text("".join(f"export {k}={env[k]}\n" for k in order))
        (tmp_path / name).chmod(0o755)
    e = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    e["HOME"] = str(seed.home)
    for name, project, user in (("admin-openrc.sh", "project_admin", "user_admin"),
                                ("demo-openrc.sh", "project_demo", "user_demo")):
        r = subprocess.run(["bash", "-c", f"source ./{name} && {OPENSTACK} token issue"],
                           cwd=tmp_path, env=e, capture_output=True, text=True, timeout=180,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        tok = show_table(r.stdout)
        assert tok["project_id"] == seed.ids[project] and tok["user_id"] == seed.ids[user]
        assert_future_iso(tok["expires"])


def test_07_admin_password_session_works(seed):
    # everything the admin token did, now with a password-scoped admin token
    a = admin_env(seed)
    assert {u["Name"] for u in osc(seed, "user", "list", env=a, fmt="json")} == {"admin", "demo"}
    p = osc(seed, "project", "show", "demo", env=a, fmt="json")
    assert p["id"] == seed.ids["project_demo"] and p["description"] == "Demo Project"
    cat = osc(seed, "catalog", "list", env=a, fmt="json")
    assert [c["Type"] for c in cat] == ["identity"]


def test_08_demo_user_is_not_admin(seed):
    d = password_env(seed, "demo", "demo", "demo")
    for args in (("user", "list"), ("role", "create", "sneaky"),
                 ("project", "create", "--domain", "default", "sneaky")):
        r = osc(seed, *args, env=d, ok=False)
        assert r.returncode != 0, r.stdout
        assert "HTTP 403" in r.stderr, r.stderr
    # but its own token works
    tok = osc(seed, "token", "issue", env=d, fmt="json")
    assert tok["user_id"] == seed.ids["user_demo"]
    # and nothing was created
    a = admin_env(seed)
    assert "sneaky" not in {r["Name"] for r in osc(seed, "role", "list", env=a, fmt="json")}


def test_09_user_set_password(seed):
    a = admin_env(seed)
    u = osc(seed, "user", "create", "--domain", "default", "--password", "first-pw",
            "--project", "demo", "carol", env=a, fmt="json")
    seed.ids["user_carol"] = u["id"]
    osc(seed, "role", "add", "--project", "demo", "--user", "carol", "user", env=a)
    c_old = password_env(seed, "carol", "first-pw", "demo")
    assert osc(seed, "token", "issue", env=c_old, fmt="json")["user_id"] == u["id"]

    out = osc(seed, "user", "set", "--password", "second-pw", "carol", env=a)
    assert out.strip() == ""
    r = osc(seed, "token", "issue", env=c_old, ok=False)
    assert r.returncode != 0 and "HTTP 401" in r.stderr, r.stderr
    c_new = password_env(seed, "carol", "second-pw", "demo")
    assert osc(seed, "token", "issue", env=c_new, fmt="json")["user_id"] == u["id"]


def test_10_role_remove(seed):
    a = admin_env(seed)
    c = password_env(seed, "carol", "second-pw", "demo")
    osc(seed, "role", "remove", "--project", "demo", "--user", "carol", "user", env=a)
    ra = osc(seed, "role", "assignment", "list", "--user", "carol", "--names",
             env=a, fmt="json")
    assert ra == [], ra
    # no role on demo any more: a token scoped to it is refused
    r = osc(seed, "token", "issue", env=c, ok=False)
    assert r.returncode != 0 and "HTTP 401" in r.stderr, r.stderr


def test_11_token_revoke(seed):
    a = admin_env(seed)
    demo_tok = osc(seed, "token", "issue", env=password_env(seed, "demo", "demo", "demo"),
                   fmt="json")["id"]
    admin_tok = osc(seed, "token", "issue", env=a, fmt="json")["id"]

    def validate():
        return requests.get(seed.url + "/v3/auth/tokens", timeout=30,
                            headers={"X-Auth-Token": admin_tok, "X-Subject-Token": demo_tok})

    assert validate().status_code == 200
    out = osc(seed, "token", "revoke", demo_tok, env=a)
    assert out.strip() == ""
    assert validate().status_code == 404
    # the revoked token no longer works for its owner either
    r = requests.get(seed.url + "/v3/projects", headers={"X-Auth-Token": demo_tok}, timeout=30)
    assert r.status_code == 401


def test_12_user_delete(seed):
    a = admin_env(seed)
    out = osc(seed, "user", "delete", "carol", env=a)
    assert out.strip() == ""
    users = {u["Name"] for u in osc(seed, "user", "list", env=a, fmt="json")}
    assert users == {"admin", "demo"}
    r = osc(seed, "user", "show", "carol", env=a, ok=False)
    assert r.returncode != 0 and "carol" in r.stderr, r.stderr
    r = osc(seed, "token", "issue", env=password_env(seed, "carol", "second-pw", "demo"),
            ok=False)
    assert r.returncode != 0 and "HTTP 401" in r.stderr, r.stderr
