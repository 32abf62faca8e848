"""Image data (Glance v2 upload/download, stage/import) against a real `kumo all`.

Uses the shared `kumo` fixture (conftest.py) for most tests, and a second,
private instance (`small`) with [image] image_size_cap = 4 MiB and its store
on a 16 MiB tmpfs (when the tests run as root; a plain directory otherwise)
for the limits: over the cap, a full disk, a killed client, a crash in the
middle of an upload, an image deleted during its upload.

Covers: byte-identical round trips with the checksum and the sha512
multihash matching md5sum/sha512sum, chunked and Content-Length uploads,
Range and the legacy Content-Range request header, the status codes and
messages of Glance's image_data.py (409 second upload, 415 wrong type, 400
missing formats, 204 no data, 403 deactivated, 413 over the cap / disk full,
410 deleted meanwhile), the glance-direct import flow and /v2/info/import,
memory that stays flat during a 256 MiB transfer, and the real clients:
`glance image-create --file ... --progress`, `glance image-download`,
`glance image-create-via-import`, `openstack image save`.
"""

import hashlib
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import GlanceApi, Kumo, free_port

MIB = 1024 * 1024
OCTET = {"Content-Type": "application/octet-stream"}


# ---------------------------------------------------------------- helpers

def ok(r, code=200):
    assert r.status_code == code, f"{r.status_code} {r.text}"
    return r.json() if r.content else None


def err(r, code, text=None):
    """A Glance-dialect error: status, and the message contains text."""
    assert r.status_code == code, f"{r.status_code} {r.text}"
    body = r.json()
    assert str(body.get("code", "")).startswith(str(code)), body
    if text is not None:
        assert text in body["message"], body["message"]
    return body["message"]


def new_image(api, **kw):
    kw.setdefault("name", "data-" + uuid.uuid4().hex[:8])
    kw.setdefault("disk_format", "raw")
    kw.setdefault("container_format", "bare")
    return ok(api.post("v2/images", kw), 201)["id"]


def show(api, iid):
    return ok(api.get(f"v2/images/{iid}"))


def put_file(api, iid, data, headers=None, what="file"):
    h = dict(OCTET)
    h.update(headers or {})
    return api.request("PUT", f"v2/images/{iid}/{what}", data=data, headers=h)


def chunks(data, size=65536):
    """A generator body: requests sends it with Transfer-Encoding: chunked."""
    for i in range(0, len(data), size):
        yield data[i:i + size]


def wait_status(api, iid, want, timeout=20):
    deadline = time.time() + timeout
    while True:
        st = show(api, iid)["status"]
        if st == want or time.time() > deadline:
            return st
        time.sleep(0.1)


def store_files(kumo, iid=None):
    d = Path(getattr(kumo, "store_dir", kumo.dir / "images"))
    names = sorted(p.name for p in d.iterdir()) if d.exists() else []
    return [n for n in names if iid is None or n.startswith(iid)]


def staging_files(kumo, iid=None):
    d = kumo.dir / "staging"
    names = sorted(p.name for p in d.iterdir()) if d.exists() else []
    return [n for n in names if iid is None or n.startswith(iid)]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raw_put(kumo, token, iid, announced, body, what="file", close=True):
    """PUT on a raw socket: headers announcing `announced` bytes, then `body`.
    With close=True the connection is dropped right after; else the socket is
    returned (to send more later)."""
    s = socket.create_connection(("127.0.0.1", kumo.image_port), timeout=30)
    head = (f"PUT /v2/images/{iid}/{what} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {announced}\r\n\r\n")
    s.sendall(head.encode() + body)
    if close:
        time.sleep(0.2)
        s.close()
        return None
    return s


def read_status(s):
    s.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        part = s.recv(65536)
        if not part:
            break
        data += part
    m = re.match(rb"HTTP/1\.[01] (\d+)", data)
    return int(m.group(1)) if m else None, data


class DataEnv:
    pass


@pytest.fixture(scope="module")
def env(kumo, admin):
    """An admin image client, and a member of another project."""
    e = DataEnv()
    tag = uuid.uuid4().hex[:8]
    roles = {r["name"]: r["id"] for r in ok(admin.get("roles"))["roles"]}
    if "member" not in roles:
        roles["member"] = ok(admin.post("roles", {"role": {"name": "member"}}), 201)["role"]["id"]
    e.pw = "pw-" + tag
    proj = ok(admin.post("projects", {"project": {"name": f"data-{tag}",
                                                  "domain_id": "default"}}), 201)["project"]
    user = ok(admin.post("users", {"user": {"name": f"data-{tag}", "password": e.pw,
                                            "domain_id": "default"}}), 201)["user"]
    ok(admin.put(f"projects/{proj['id']}/users/{user['id']}/roles/{roles['member']}"), 204)
    e.user, e.project = user["name"], proj["id"]
    e.token = kumo.token(kumo.admin_user, kumo.admin_password, project=kumo.admin_project)
    e.admin = GlanceApi(kumo.image_url, e.token)
    e.member_token = kumo.token(user["name"], e.pw, project=proj["id"])
    e.member = GlanceApi(kumo.image_url, e.member_token)
    return e


# ---------------------------------------------------------------- upload / download

def test_roundtrip_checksums(kumo, env):
    data = os.urandom(5 * MIB + 123)
    iid = new_image(env.admin)
    assert show(env.admin, iid)["status"] == "queued"
    r = put_file(env.admin, iid, data)
    assert r.status_code == 204, r.text
    assert r.content == b""
    img = show(env.admin, iid)
    assert img["status"] == "active"
    assert img["size"] == len(data)
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert img["os_hash_algo"] == "sha512"
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    # the data: one file named after the image, nothing partial
    assert store_files(kumo, iid) == [iid]
    assert (kumo.dir / "images" / iid).stat().st_mode & 0o777 == 0o600
    r = env.admin.get(f"v2/images/{iid}/file")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-MD5"] == img["checksum"]
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers.get("x-openstack-request-id", "").startswith("req-")
    # HEAD: the headers only
    r = env.admin.head(f"v2/images/{iid}/file")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == str(len(data))


def test_chunked_upload_and_empty_image(env):
    data = os.urandom(3 * MIB + 7)
    iid = new_image(env.admin)
    r = put_file(env.admin, iid, chunks(data))
    assert r.status_code == 204, r.text
    img = show(env.admin, iid)
    assert (img["status"], img["size"]) == ("active", len(data))
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert env.admin.get(f"v2/images/{iid}/file").content == data
    # zero bytes make an active, empty image
    iid = new_image(env.admin)
    r = put_file(env.admin, iid, b"")
    assert r.status_code == 204, r.text
    img = show(env.admin, iid)
    assert (img["status"], img["size"]) == ("active", 0)
    assert img["checksum"] == hashlib.md5(b"").hexdigest()
    r = env.admin.get(f"v2/images/{iid}/file")
    assert r.status_code == 200 and r.content == b""


def test_ranges(env):
    data = os.urandom(100000)
    iid = new_image(env.admin)
    assert put_file(env.admin, iid, data).status_code == 204
    n = len(data)

    def get(h):
        return env.admin.get(f"v2/images/{iid}/file", headers=h)

    for hdr, lo, hi in [("bytes=0-9", 0, 9), ("bytes=100-199", 100, 199),
                        ("bytes=99990-", 99990, n - 1), ("bytes=-10", n - 10, n - 1),
                        ("bytes=99990-200000", 99990, n - 1), ("bytes=-200000", 0, n - 1),
                        ("bytes=0-0", 0, 0)]:
        r = get({"Range": hdr})
        assert r.status_code == 206, (hdr, r.status_code, r.text)
        assert r.content == data[lo:hi + 1], hdr
        assert r.headers["Content-Range"] == f"bytes {lo}-{hi}/{n}", hdr
        assert r.headers["Content-Length"] == str(hi - lo + 1)
        assert r.headers["Content-MD5"] == hashlib.md5(data).hexdigest()
    # the legacy Content-Range request header Glance still honours
    r = get({"Content-Range": "bytes 10-19/*"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{n}"
    # unsatisfiable and malformed
    msg = err(get({"Range": f"bytes={n}-"}), 416)
    assert "Invalid start position in Range header" in msg and f"[0, {n - 1}]" in msg
    err(get({"Range": "bytes=5-2"}), 416, "Invalid Range header.")
    err(get({"Range": "pages=1-2"}), 416, "Invalid Range header.")
    err(get({"Range": "bytes=0-1,5-6"}), 400, "multiple ranges are not supported")
    err(get({"Content-Range": f"bytes 5-{n + 5}/*"}), 416, "Invalid stop position")
    err(get({"Content-Range": "bytes x"}), 416, "Invalid Content-Range header.")


def test_second_upload_conflicts(env):
    iid = new_image(env.admin)
    assert put_file(env.admin, iid, b"first").status_code == 204
    err(put_file(env.admin, iid, b"second"), 409,
        "Image status transition from active to saving is not allowed")
    assert env.admin.get(f"v2/images/{iid}/file").content == b"first"


def test_wrong_content_type(kumo, env):
    iid = new_image(env.admin)
    r = env.admin.request("PUT", f"v2/images/{iid}/file", data=b"{}",
                          headers={"Content-Type": "application/json"})
    err(r, 415, "application/json")
    r = env.admin.request("PUT", f"v2/images/{iid}/file", data=b"x")
    assert r.status_code == 415
    assert show(env.admin, iid)["status"] == "queued"
    assert store_files(kumo, iid) == []
    # parameters are fine
    r = put_file(env.admin, iid, b"ok", {"Content-Type": "application/octet-stream; x=y"})
    assert r.status_code == 204, r.text


def test_no_data_yet(env):
    iid = new_image(env.admin)
    r = env.admin.get(f"v2/images/{iid}/file")
    assert r.status_code == 204 and r.content == b""
    # unknown image, or not a uuid
    err(env.admin.get(f"v2/images/{uuid.uuid4()}/file"), 404)
    err(put_file(env.admin, str(uuid.uuid4()), b"x"), 404)
    err(put_file(env.admin, "not-a-uuid", b"x"), 404)


def test_upload_needs_formats(env):
    iid = ok(env.admin.post("v2/images", {"name": "noformat"}), 201)["id"]
    err(put_file(env.admin, iid, b"data"), 400,
        "Properties disk_format, container_format must be set prior to saving data.")
    iid = ok(env.admin.post("v2/images", {"name": "half", "disk_format": "raw"}), 201)["id"]
    err(put_file(env.admin, iid, b"data"), 400,
        "Property container_format must be set prior to saving data.")
    assert show(env.admin, iid)["status"] == "queued"
    err(put_file(env.admin, iid, b"data", {"x-openstack-image-size": "lots"}), 400,
        "Invalid or missing image size in request headers.")


def test_auth_and_policy(kumo, env):
    iid = new_image(env.admin, visibility="private")
    r = requests.put(f"{kumo.image_url}/v2/images/{iid}/file", data=b"x", headers=OCTET,
                     timeout=30)
    assert r.status_code == 401
    # another project's private image does not exist for the member
    err(put_file(env.member, iid, b"x"), 404)
    err(env.member.get(f"v2/images/{iid}/file"), 404)
    # a public image of another project can be read, not written
    pub = new_image(env.admin, visibility="public")
    assert put_file(env.member, pub, b"x").status_code == 403
    assert show(env.admin, pub)["status"] == "queued"
    assert put_file(env.admin, pub, b"public bytes").status_code == 204
    assert env.member.get(f"v2/images/{pub}/file").content == b"public bytes"
    # the member's own image
    own = new_image(env.member)
    assert put_file(env.member, own, b"mine").status_code == 204
    assert env.member.get(f"v2/images/{own}/file").content == b"mine"


def test_deactivated(env):
    iid = new_image(env.admin, visibility="public")
    assert put_file(env.admin, iid, b"secret").status_code == 204
    ok(env.admin.post(f"v2/images/{iid}/actions/deactivate"), 204)
    err(env.member.get(f"v2/images/{iid}/file"), 403,
        "The requested image has been deactivated. Image data download is forbidden.")
    assert env.admin.get(f"v2/images/{iid}/file").content == b"secret"
    ok(env.admin.post(f"v2/images/{iid}/actions/reactivate"), 204)
    assert env.member.get(f"v2/images/{iid}/file").content == b"secret"


def test_delete_removes_data(kumo, env):
    iid = new_image(env.admin)
    assert put_file(env.admin, iid, b"x" * 1000).status_code == 204
    assert store_files(kumo, iid) == [iid]
    ok(env.admin.delete(f"v2/images/{iid}"), 204)
    assert store_files(kumo, iid) == []


def test_info(env):
    body = ok(env.admin.get("v2/info/import"))
    assert body == {"import-methods": {"description": "Import methods available.",
                                       "type": "array", "value": ["glance-direct"]}}
    err(env.admin.get("v2/info/stores"), 404, "Multi backend is not supported at this site.")


def test_methods(env):
    iid = new_image(env.admin)
    r = env.admin.request("POST", f"v2/images/{iid}/file", data=b"x", headers=OCTET)
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "PUT"}


# ---------------------------------------------------------------- import

def test_import_flow(kumo, env):
    data = os.urandom(2 * MIB + 5)
    iid = new_image(env.admin)
    # nothing staged yet
    r = env.admin.post(f"v2/images/{iid}/import", {"method": {"name": "glance-direct"}})
    err(r, 409, "Image needs to be staged before 'glance-direct' method can be used")
    r = put_file(env.admin, iid, chunks(data), what="stage")
    assert r.status_code == 204, r.text
    img = show(env.admin, iid)
    assert img["status"] == "uploading"
    assert img["size"] == len(data)
    assert staging_files(kumo, iid) and store_files(kumo, iid) == []
    # staging twice, uploading while staged
    err(put_file(env.admin, iid, b"x", what="stage"), 409,
        "Image status transition from uploading to uploading is not allowed")
    err(put_file(env.admin, iid, b"x"), 409)
    # bad import bodies
    err(env.admin.post(f"v2/images/{iid}/import", {}), 400,
        "Import request requires a 'method' field.")
    err(env.admin.post(f"v2/images/{iid}/import", {"method": {}}), 400,
        "Import request requires a 'name' field.")
    err(env.admin.post(f"v2/images/{iid}/import",
                       {"method": {"name": "web-download", "uri": "http://example.com/x"}}),
        400, "Unknown import method name 'web-download'.")
    err(env.admin.post(f"v2/images/{iid}/import",
                       {"method": {"name": "glance-direct"}, "all_stores": "yes"}),
        400, "'all_stores' must be boolean value only")
    r = env.admin.post(f"v2/images/{iid}/import", {"method": {"name": "glance-direct"}})
    assert r.status_code == 202, r.text
    assert wait_status(env.admin, iid, "active") == "active"
    img = show(env.admin, iid)
    assert img["size"] == len(data)
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert env.admin.get(f"v2/images/{iid}/file").content == data
    assert staging_files(kumo, iid) == [] and store_files(kumo, iid) == [iid]
    r = env.admin.post(f"v2/images/{iid}/import", {"method": {"name": "glance-direct"}})
    err(r, 409, "Image with status active cannot be target for import")


def test_import_needs_formats_and_owner(env):
    iid = ok(env.admin.post("v2/images", {"name": "imp"}), 201)["id"]
    assert put_file(env.admin, iid, b"staged", what="stage").status_code == 204
    err(env.admin.post(f"v2/images/{iid}/import", {"method": {"name": "glance-direct"}}), 409,
        "'container_format' needs to be set before import")
    # a member cannot stage into another project's public image
    pub = new_image(env.admin, visibility="public")
    assert put_file(env.member, pub, b"x", what="stage").status_code == 403
    assert show(env.admin, pub)["status"] == "queued"
    # deleting an image with staged data removes it
    ok(env.admin.delete(f"v2/images/{iid}"), 204)


# ---------------------------------------------------------------- memory

def test_memory_flat_during_large_transfer(kumo, env):
    size = 256 * MIB
    block = os.urandom(MIB)
    md5 = hashlib.md5()
    for _ in range(size // MIB):
        md5.update(block)
    iid = new_image(env.admin)
    pid = kumo.proc.pid
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(rss_kib(pid))
            time.sleep(0.05)

    def body():
        for _ in range(size // MIB):
            yield block

    before = rss_kib(pid)
    t = threading.Thread(target=sample)
    t.start()
    try:
        r = put_file(env.admin, iid, body())
        assert r.status_code == 204, r.text
        got = hashlib.md5()
        with env.admin.s.get(f"{kumo.image_url}/v2/images/{iid}/file", stream=True,
                             headers={"X-Auth-Token": env.token}, timeout=60) as d:
            assert d.status_code == 200
            for part in d.iter_content(MIB):
                got.update(part)
    finally:
        stop.set()
        t.join()
    assert got.hexdigest() == md5.hexdigest() == show(env.admin, iid)["checksum"]
    grown = max(samples) - before
    print(f"kumo RSS {before} KiB before, max {max(samples)} KiB during 2 x 256 MiB")
    assert grown < 32 * 1024, f"RSS grew by {grown} KiB"
    ok(env.admin.delete(f"v2/images/{iid}"), 204)


# ---------------------------------------------------------------- the real clients

def cli_env(kumo):
    e = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    e.update({
        "OS_AUTH_URL": kumo.url + "/v3", "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": kumo.admin_user, "OS_PASSWORD": kumo.admin_password,
        "OS_PROJECT_NAME": kumo.admin_project,
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": kumo.region, "OS_IMAGE_API_VERSION": "2",
        "HOME": str(kumo.dir), "PATH": "/usr/bin:/bin",
    })
    return e


def run(args, env, ok_=True):
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    if ok_:
        assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return r


def run_tty(args, env):
    """Run on a pseudo-terminal (script(1)), as a user at a shell would: the
    clients show progress bars and do not take stdin for image data."""
    r = run(["/usr/bin/script", "-qefc", shlex.join(args), "/dev/null"], env)
    r.stdout = r.stdout.replace("\r\n", "\n")
    return r


def table_value(out, field):
    m = re.search(r"^\|\s*" + re.escape(field) + r"\s*\|\s*(.*?)\s*\|$", out, re.M)
    return m.group(1) if m else None


def md5sum(path):
    out = subprocess.run(["md5sum", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def test_glance_client_upload_download(kumo, env, tmp_path):
    src = tmp_path / "cirros.img"
    src.write_bytes(os.urandom(12 * MIB + 345))
    e = cli_env(kumo)
    name = "cirros-" + uuid.uuid4().hex[:6]
    r = run_tty(["/usr/bin/glance", "image-create", "--name", name, "--file", str(src),
                 "--disk-format", "qcow2", "--container-format", "bare",
                 "--visibility", "public", "--progress"], e)
    assert "] 100%" in r.stdout, r.stdout
    iid = table_value(r.stdout, "id")
    assert iid, r.stdout
    assert table_value(r.stdout, "status") == "active"
    assert table_value(r.stdout, "checksum") == md5sum(src)
    assert table_value(r.stdout, "size") == str(src.stat().st_size)
    r = run(["/usr/bin/glance", "image-list"], e)
    assert iid in r.stdout and name in r.stdout

    out = tmp_path / "glance.out"
    run(["/usr/bin/glance", "image-download", "--file", str(out), iid], e)
    assert out.read_bytes() == src.read_bytes()
    assert md5sum(out) == md5sum(src)

    out2 = tmp_path / "osc.out"
    run(["/usr/bin/openstack", "image", "save", "--file", str(out2), iid], e)
    assert out2.read_bytes() == src.read_bytes()
    r = run(["/usr/bin/openstack", "image", "show", "-f", "value", "-c", "checksum", iid], e)
    assert r.stdout.strip() == md5sum(src)

    # the interoperable import, as the client drives it
    name2 = "imported-" + uuid.uuid4().hex[:6]
    r = run_tty(["/usr/bin/glance", "image-create-via-import", "--name", name2,
                 "--disk-format", "qcow2", "--container-format", "bare",
                 "--import-method", "glance-direct", "--file", str(src), "--progress"], e)
    iid2 = table_value(r.stdout, "id")
    assert iid2, r.stdout
    assert wait_status(env.admin, iid2, "active") == "active"
    assert show(env.admin, iid2)["checksum"] == md5sum(src)
    out3 = tmp_path / "imported.out"
    run(["/usr/bin/glance", "image-download", "--file", str(out3), iid2], e)
    assert out3.read_bytes() == src.read_bytes()
    for i in (iid, iid2):
        run(["/usr/bin/glance", "image-delete", i], e)


def test_openstack_client_create_with_file(kumo, env, tmp_path):
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(3 * MIB + 1))
    e = cli_env(kumo)
    name = "osc-" + uuid.uuid4().hex[:6]
    r = run(["/usr/bin/openstack", "image", "create", "--disk-format", "raw",
             "--container-format", "bare", "--file", str(src), "-f", "value", "-c", "id",
             name], e)
    iid = r.stdout.strip()
    assert show(env.admin, iid)["checksum"] == md5sum(src)
    out = tmp_path / "back.raw"
    run(["/usr/bin/openstack", "image", "save", "--file", str(out), iid], e)
    assert md5sum(out) == md5sum(src)
    run(["/usr/bin/openstack", "image", "delete", iid], e)


# ---------------------------------------------------------------- limits: a private instance

class SmallKumo(Kumo):
    """A kumo with a 4 MiB image_size_cap and its store on a 16 MiB tmpfs."""
    command = "all"

    def __init__(self, *a, store_dir, **kw):
        super().__init__(*a, **kw)
        self.store_dir = store_dir

    def write_config(self):
        super().write_config()
        with open(self.conf, "a") as f:
            f.write("\n[image]\n"
                    f"image_size_cap = {4 * MIB}\n"
                    f"store_dir = {self.store_dir}\n")


@pytest.fixture(scope="module")
def small(kumo, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kumo-small")
    mnt = tmp / "fs"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
                             capture_output=True).returncode == 0
    store = mnt / "images"
    k = SmallKumo(kumo.bin, tmp, free_port(), f"sqlite:///{tmp / 'identity.db'}",
                  store_dir=store)
    k.mounted, k.mnt = mounted, mnt
    k.write_config()
    try:
        k.manage("db-sync")
        k.manage("fernet-setup")
        k.bootstrap()
        k.start()
        k.token_ = k.token(k.admin_user, k.admin_password, project=k.admin_project)
        k.api = GlanceApi(k.image_url, k.token_)
        yield k
    finally:
        k.stop()
        if mounted:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_over_the_cap(small):
    api = small.api
    iid = new_image(api)
    data = os.urandom(4 * MIB + 1)
    # announced: refused before the body
    err(put_file(api, iid, data), 413,
        "The incoming image is too large: The provided image is too large.")
    assert show(api, iid)["status"] == "queued"
    assert store_files(small, iid) == []
    # chunked: refused when the cap is crossed, nothing stays
    err(put_file(api, iid, chunks(data)), 413, "The incoming image is too large")
    assert show(api, iid)["status"] == "queued"
    assert show(api, iid)["size"] is None
    assert store_files(small, iid) == []
    # a liar's x-openstack-image-size is checked too
    err(put_file(api, iid, b"x", {"x-openstack-image-size": str(5 * MIB)}), 413)
    # exactly at the cap is fine
    r = put_file(api, iid, data[:4 * MIB])
    assert r.status_code == 204, r.text
    assert store_files(small, iid) == [iid]
    # staging has the same cap
    iid2 = new_image(api)
    err(put_file(api, iid2, chunks(data), what="stage"), 413)
    assert show(api, iid2)["status"] == "queued"
    assert staging_files(small, iid2) == []


def test_disk_full(small):
    if not small.mounted:
        pytest.skip("needs root to mount a small tmpfs")
    api = small.api
    # fill the filesystem up to about 2 MiB free
    st = os.statvfs(small.mnt)
    filler = small.mnt / "filler"
    filler.write_bytes(b"\0" * (st.f_bavail * st.f_frsize - 2 * MIB))
    try:
        iid = new_image(api)
        data = os.urandom(3 * MIB)
        for body in (data, chunks(data)):          # announced, then chunked
            err(put_file(api, iid, body), 413, "Image storage media is full")
            assert show(api, iid)["status"] == "queued"
            assert store_files(small, iid) == []
    finally:
        filler.unlink()
    r = put_file(api, iid, data)
    assert r.status_code == 204, r.text
    assert api.get(f"v2/images/{iid}/file").content == data


def test_client_killed_mid_upload(small):
    api = small.api
    iid = new_image(api)
    # a socket that sends half of the announced body, then hangs up
    raw_put(small, small.token_, iid, 3 * MIB, os.urandom(MIB + 17))
    assert wait_status(api, iid, "queued") == "queued"
    time.sleep(0.2)
    assert store_files(small, iid) == []
    # a real client killed mid-transfer
    src = small.dir / "slow.bin"
    src.write_bytes(os.urandom(3 * MIB))
    curl = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-X", "PUT", "--limit-rate", "1M",
                             "-H", "Content-Type: application/octet-stream",
                             "-H", f"X-Auth-Token: {small.token_}", "-T", str(src),
                             f"{small.image_url}/v2/images/{iid}/file"])
    deadline = time.time() + 10
    while show(api, iid)["status"] != "saving" and time.time() < deadline:
        time.sleep(0.05)
    assert show(api, iid)["status"] == "saving"
    assert store_files(small, iid) == [iid + ".partial"]
    time.sleep(0.5)
    curl.send_signal(signal.SIGKILL)
    curl.wait()
    assert wait_status(api, iid, "queued") == "queued"
    time.sleep(0.2)
    assert store_files(small, iid) == []
    # and the upload can be retried
    assert put_file(api, iid, src.read_bytes()).status_code == 204
    assert show(api, iid)["checksum"] == hashlib.md5(src.read_bytes()).hexdigest()


def test_deleted_during_upload(small):
    api = small.api
    iid = new_image(api)
    s = raw_put(small, small.token_, iid, 2 * MIB, os.urandom(MIB), close=False)
    try:
        deadline = time.time() + 10
        while show(api, iid)["status"] != "saving" and time.time() < deadline:
            time.sleep(0.05)
        ok(api.delete(f"v2/images/{iid}"), 204)
        s.sendall(os.urandom(MIB))
        status, text = read_status(s)
    finally:
        s.close()
    assert status == 410, text
    assert b"could not be found after upload" in text
    assert store_files(small, iid) == []


def test_restart_during_upload(small):
    api = small.api
    iid = new_image(api)
    s = raw_put(small, small.token_, iid, 3 * MIB, os.urandom(MIB), close=False)
    try:
        deadline = time.time() + 10
        while show(api, iid)["status"] != "saving" and time.time() < deadline:
            time.sleep(0.05)
        assert show(api, iid)["status"] == "saving"
        assert store_files(small, iid) == [iid + ".partial"]
        # a crash: no chance to clean up
        small.proc.send_signal(signal.SIGKILL)
        small.proc.wait()
    finally:
        s.close()
    assert store_files(small, iid) == [iid + ".partial"]
    small.start()
    small.api = GlanceApi(small.image_url, small.token(small.admin_user, small.admin_password,
                                                        project=small.admin_project))
    small.token_ = small.api.token
    assert show(small.api, iid)["status"] == "queued"
    assert store_files(small, iid) == []
    assert put_file(small.api, iid, b"again").status_code == 204
