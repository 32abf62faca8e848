"""Shared pytest fixtures: a real `kumo identity` on free loopback ports.

The `kumo` session fixture
  * writes a config into a temporary state_dir (password_hash_rounds = 4;
    identity and image on free loopback ports),
  * runs `kumo manage db-sync`, `manage fernet-setup` and
    `manage bootstrap` (admin password, RegionOne, identity endpoints; the
    image endpoint follows from the public URL),
  * starts `kumo --config F all` (Kumo.command; a bare Kumo runs `identity`),
    waits until identity (and image) answer,
  * yields a Kumo object (base URL, admin credentials, helpers),
  * stops the process with SIGTERM at the end of the session.

Environment:
  KUMO_BIN          path to the binary (default: build/kumo in the repository)
  KUMO_TEST_DB_URL  database URL, e.g. mysql://kumo:pw@127.0.0.1:3306/kumo_test;
                    default: SQLite in the tmp dir.  For MySQL/MariaDB the
                    fixture creates (and drops afterwards) a fresh database
                    named <db>_<random> when the `mariadb`/`mysql` client is
                    installed and the user may create databases; otherwise
                    the URL is used as is (then it must be an empty database)
  KUMO_TEST_KEEP    set to keep the tmp dir (config, logs) after the run

Tests use `admin` (an Api client holding a project-scoped admin token) and
`kumo.token(...)` / `kumo.client(...)` to act as other users;
`kumo.glance(token)` is a client for the image API (paths relative to the
image endpoint's root: "v2/images"); `kumo.neutron(token)` the same for the
network API ("v2.0/networks"; the network service runs with [network]
agents = false, so API tests create no bridges).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def _kumo_bin():
    b = os.environ.get("KUMO_BIN", "build/kumo")
    p = Path(b)
    if not p.is_absolute():
        p = (Path.cwd() / b) if (Path.cwd() / b).exists() else (REPO / b)
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """Tiny client for /v3 with one token; paths are relative to /v3."""

    def __init__(self, base, token=None):
        self.base = base.rstrip("/")
        self.token = token
        self.s = requests.Session()

    def url(self, path):
        if path.startswith("http"):
            return path
        return f"{self.base}/v3/{path.lstrip('/')}"

    def _headers(self, headers):
        h = {"Accept": "application/json"}
        if self.token:
            h["X-Auth-Token"] = self.token
        h.update(headers or {})
        return h

    def request(self, method, path, json=None, params=None, headers=None, data=None):
        return self.s.request(method, self.url(path), json=json, params=params, data=data,
                              headers=self._headers(headers), timeout=30)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.request("PUT", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


class GlanceApi(Api):
    """Client for the image API; paths are relative to its root ("v2/images")."""

    def url(self, path):
        if path.startswith("http"):
            return path
        return f"{self.base}/{path.lstrip('/')}"


class Kumo:
    command = "identity"      # what `start` runs: "identity" or "all"

    def __init__(self, binary, tmpdir, port, db_url):
        self.bin = binary
        self.dir = Path(tmpdir)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.db_url = db_url
        self.conf = self.dir / "kumo.conf"
        self.log = self.dir / "kumo.log"
        self.admin_user = "admin"
        self.admin_password = "adm1n-" + uuid.uuid4().hex[:8]
        self.admin_project = "admin"
        self.region = "RegionOne"
        self.admin_token = "admintoken-" + uuid.uuid4().hex   # [DEFAULT] admin_token
        self.image_port = free_port()
        self.image_url = f"http://127.0.0.1:{self.image_port}"
        self.network_port = free_port()   # `kumo all` runs the network service too
        self.network_url = f"http://127.0.0.1:{self.network_port}"
        self.compute_port = free_port()   # and the compute service
        self.compute_url = f"http://127.0.0.1:{self.compute_port}/v2.1"
        # [compute] options written to the config; the shared fixture runs the
        # compute API, scheduler and conductor without an agent (no VMs);
        # compute_env.py starts a kumo of its own with the agent and libvirt.
        self.compute_conf = {"agent": "false"}
        # the metadata API and the console proxy (services of their own, no catalog entry)
        self.metadata_port = free_port()
        self.console_port = free_port()
        self.metadata_secret = "mdsecret-" + uuid.uuid4().hex[:12]
        self.network_agents = False
        self.proc = None

    # -- process management --
    def write_config(self):
        self.conf.write_text(
            "[DEFAULT]\n"
            f"state_dir = {self.dir}\n"
            "bind_host = 127.0.0.1\n"
            "debug = true\n"
            f"admin_token = {self.admin_token}\n"
            "transport_url = local://\n"
            "\n[identity]\n"
            f"connection = {self.db_url}\n"
            f"port = {self.port}\n"
            "admin_port = 0\n"
            "workers = 8\n"
            f"key_repository = {self.dir / 'fernet-keys'}\n"
            "password_hash_rounds = 4\n"
            "token_expiration = 3600\n"
            "\n[image]\n"
            f"connection = {self.image_db_url()}\n"
            f"port = {self.image_port}\n"
            "workers = 8\n"
            "\n[network]\n"
            f"connection = {self.network_db_url()}\n"
            f"port = {self.network_port}\n"
            "workers = 8\n"
            f"agents = {'true' if self.network_agents else 'false'}\n"
            "network_vlan_ranges = physnet1:100:199,physnet2\n"
            "vni_ranges = 1:1000\n"
            + "".join(f"{k} = {v}\n" for k, v in getattr(self, "network_conf", {}).items())
            + f"metadata_proxy_shared_secret = {self.metadata_secret}\n"
            "nova_metadata_host = 127.0.0.1\n"
            f"nova_metadata_port = {self.metadata_port}\n"
            "\n[compute]\n"
            f"connection = {self.compute_db_url()}\n"
            f"port = {self.compute_port}\n"
            "workers = 8\n"
            f"metadata_proxy_shared_secret = {self.metadata_secret}\n"
            f"novncproxy_base_url = http://127.0.0.1:{self.console_port}/vnc_auto.html\n"
            + "".join(f"{k} = {v}\n" for k, v in self.compute_conf.items())
            + "\n[metadata]\n"
            f"port = {self.metadata_port}\n"
            "\n[console]\n"
            f"port = {self.console_port}\n"
            + "\n[keystone_authtoken]\n"
            # the service user of compute's calls to image and network
            "username = admin\n"
            f"password = {self.admin_password}\n"
            "project_name = admin\n"
            f"auth_url = {self.url}\n"
            f"www_authenticate_uri = {self.url}\n"
        )

    def compute_db_url(self):
        """The compute database: its own SQLite file, or the same MySQL/MariaDB
        database (its tables are all prefixed cmp_)."""
        if self.db_url.startswith("sqlite:///"):
            return f"sqlite:///{self.dir / 'compute.db'}"
        return self.db_url

    def image_db_url(self):
        """The image database: beside the identity one (SQLite), or the same
        MySQL/MariaDB database (the tables do not overlap)."""
        if self.db_url.startswith("sqlite:///"):
            return f"sqlite:///{self.dir / 'image.db'}"
        return self.db_url

    def network_db_url(self):
        """The network database: its own SQLite file, or the same MySQL/MariaDB
        database (its tables are all prefixed net_)."""
        if self.db_url.startswith("sqlite:///"):
            return f"sqlite:///{self.dir / 'network.db'}"
        return self.db_url

    def manage(self, *args, check=True):
        cmd = [str(self.bin), "--config", str(self.conf), "manage", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[3:])} failed ({r.returncode}):\n"
                               f"{r.stdout}\n{r.stderr}")
        return r

    def bootstrap(self, password=None):
        return self.manage(
            "bootstrap", "--bootstrap-password", password or self.admin_password,
            "--bootstrap-region-id", self.region,
            "--bootstrap-public-url", self.url,
            "--bootstrap-internal-url", self.url,
            "--bootstrap-admin-url", self.url)

    def start(self):
        logf = open(self.dir / "kumo.out", "ab")
        self.proc = subprocess.Popen(
            [str(self.bin), "--config", str(self.conf), self.command],
            stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        urls = [self.url + "/v3"] + ([self.image_url + "/versions", self.network_url + "/",
                                      self.compute_url]
                                     if self.command == "all" else [])
        deadline = time.time() + 30
        while time.time() < deadline and urls:
            if self.proc.poll() is not None:
                raise RuntimeError("kumo exited early:\n" + self.output())
            try:
                requests.get(urls[0], timeout=1)
                urls.pop(0)
            except requests.RequestException:
                time.sleep(0.1)
        if urls:
            raise RuntimeError("kumo did not start listening:\n" + self.output())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self):
        out = ""
        for f in (self.dir / "kumo.out", self.log):
            if f.exists():
                out += f.read_text(errors="replace")[-8000:]
        return out

    # -- helpers for tests --
    def auth_body(self, user, password, project=None, domain=None, system=False,
                  user_domain="default", project_domain="default"):
        ident = {"methods": ["password"], "password": {"user": {"password": password}}}
        u = ident["password"]["user"]
        if len(user) == 32 and all(c in "0123456789abcdef" for c in user):
            u["id"] = user
        else:
            u["name"] = user
            u["domain"] = {"id": user_domain}
        body = {"auth": {"identity": ident}}
        if project:
            p = {"id": project} if len(project) == 32 else {
                "name": project, "domain": {"id": project_domain}}
            body["auth"]["scope"] = {"project": p}
        elif domain:
            body["auth"]["scope"] = {"domain": {"id": domain}}
        elif system:
            body["auth"]["scope"] = {"system": {"all": True}}
        return body

    def token_response(self, user, password, **scope):
        return requests.post(self.url + "/v3/auth/tokens",
                             json=self.auth_body(user, password, **scope), timeout=30)

    def token(self, user, password, **scope):
        r = self.token_response(user, password, **scope)
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def client(self, user=None, password=None, **scope):
        if user is None:
            user, password = self.admin_user, self.admin_password
            scope.setdefault("project", self.admin_project)
        return Api(self.url, self.token(user, password, **scope))

    def glance(self, token=None):
        """An image API client with this token (default: a project-scoped admin)."""
        if token is None:
            token = self.token(self.admin_user, self.admin_password, project=self.admin_project)
        return GlanceApi(self.image_url, token)

    def neutron(self, token=None):
        """A network API client with this token (default: a project-scoped admin)."""
        if token is None:
            token = self.token(self.admin_user, self.admin_password, project=self.admin_project)
        return NeutronApi(self.network_url, token)

    def nova(self, token=None, version=None):
        """A compute API client with this token (default: a project-scoped
        admin); paths are relative to .../v2.1 ("servers", "flavors/detail").
        version: a microversion sent as OpenStack-API-Version ("2.2")."""
        if token is None:
            token = self.token(self.admin_user, self.admin_password, project=self.admin_project)
        return NovaApi(self.compute_url, token, version)

    def cli_env(self, user=None, password=None, project=None):
        """Environment for the real CLIs (openstack, nova, glance, neutron)."""
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("OS_"):
                del env[k]
        env.update({
            "OS_AUTH_URL": self.url + "/v3",
            "OS_USERNAME": user or self.admin_user,
            "OS_PASSWORD": password or self.admin_password,
            "OS_PROJECT_NAME": project or self.admin_project,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_IDENTITY_API_VERSION": "3",
            "OS_REGION_NAME": self.region,
            "OS_INTERFACE": "public",
        })
        return env


class NovaApi(Api):
    """Client for the compute API; paths are relative to .../v2.1."""

    def __init__(self, base, token=None, version=None):
        super().__init__(base, token)
        self.version = version

    def url(self, path):
        if path.startswith("http"):
            return path
        return f"{self.base}/{path.lstrip('/')}"

    def _headers(self, headers):
        h = super()._headers(headers)
        if self.version:
            h.setdefault("OpenStack-API-Version", f"compute {self.version}")
        return h


class NeutronApi(Api):
    """Client for the network API; paths are relative to its root ("v2.0/networks")."""

    def url(self, path):
        if path.startswith("http"):
            return path
        return f"{self.base}/{path.lstrip('/')}"


class ScratchMysql:
    """A throw-away database next to the one a mysql:// URL names."""

    URL = re.compile(r"^mysql(?:\+\w+)?://([^:@/]*)(?::([^@/]*))?@([^:/]+)(?::(\d+))?/(\w+)")

    def __init__(self, url):
        self.url = url
        self.created = None
        self.client = shutil.which("mariadb") or shutil.which("mysql")
        self.m = self.URL.match(url)

    def _run(self, sql):
        user, pw, host, port, _ = self.m.groups()
        cmd = [self.client, "-h", host, "-u", user]
        if port:
            cmd += ["-P", port]
        env = dict(os.environ, MYSQL_PWD=pw or "")
        return subprocess.run(cmd + ["-e", sql], env=env, capture_output=True, timeout=60)

    def __enter__(self):
        if not (self.client and self.m):
            return self.url
        name = f"{self.m.group(5)}_{uuid.uuid4().hex[:8]}"
        if self._run(f"CREATE DATABASE {name} CHARACTER SET utf8mb4").returncode != 0:
            return self.url
        self.created = name
        return self.url[:self.m.start(5)] + name + self.url[self.m.end(5):]

    def __exit__(self, *exc):
        if self.created and not os.environ.get("KUMO_TEST_KEEP"):
            self._run(f"DROP DATABASE {self.created}")


@pytest.fixture(scope="session")
def kumo(tmp_path_factory):
    binary = _kumo_bin()
    if not binary.exists():
        pytest.skip(f"kumo binary not found at {binary} (set KUMO_BIN)")
    tmpdir = Path(tempfile.mkdtemp(prefix="kumo-it-"))
    url = os.environ.get("KUMO_TEST_DB_URL")
    scratch = ScratchMysql(url) if url and url.startswith("mysql") else None
    db_url = scratch.__enter__() if scratch else (url or f"sqlite:///{tmpdir / 'identity.db'}")
    k = Kumo(binary, tmpdir, free_port(), db_url)
    k.command = "all"
    k.write_config()
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        yield k
    finally:
        k.stop()
        if scratch:
            scratch.__exit__(None, None, None)
        if not os.environ.get("KUMO_TEST_KEEP"):
            shutil.rmtree(tmpdir, ignore_errors=True)
        else:
            print(f"kumo test dir kept: {tmpdir}")


@pytest.fixture(scope="session")
def admin(kumo):
    """Api client with a project-scoped admin token."""
    return kumo.client()


@pytest.fixture
def uniq():
    """A unique name suffix per test."""
    return uuid.uuid4().hex[:10]


# The real-VM environment of the compute tests (a fixture of its own kumo).
from compute_env import compute_env  # noqa: E402,F401
