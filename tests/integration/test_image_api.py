"""The Image service's API (Glance v2) against a real `kumo all` (conftest.py).

Covers version discovery, the schema documents (and that every image the
API returns validates against them, as glanceclient's warlock models need),
create/show/list/update/delete, list filters, sorting and pagination, JSON
patch (v2.1 and v2.0 media types), tags, deactivate/reactivate, visibility
across two projects, image members, Glance's error dialect, bad input, and
the real clients: `openstack image ...` and `glance image-...`.  Uploads and
downloads are covered by the data tests; here an image is made active with a
small PUT /file only where a test needs it.
"""

import json
import os
import subprocess
import uuid

import jsonschema
import pytest
import requests

from conftest import GlanceApi

PATCH21 = "application/openstack-images-v2.1-json-patch"
PATCH20 = "application/openstack-images-v2.0-json-patch"
CORE = {"id", "name", "status", "visibility", "owner", "size", "virtual_size", "checksum",
        "os_hash_algo", "os_hash_value", "disk_format", "container_format", "min_disk",
        "min_ram", "protected", "os_hidden", "created_at", "updated_at", "tags", "self",
        "file", "schema"}


# ---------------------------------------------------------------- helpers

def ok(r, code=200):
    assert r.status_code == code, f"{r.status_code} {r.text}"
    return r.json() if r.content else None


def err(r, code, text=None):
    """Assert a Glance (webob) error answered as JSON and return its message."""
    assert r.status_code == code, f"{r.status_code} {r.text}"
    assert r.headers["Content-Type"] == "application/json", r.headers
    body = r.json()
    assert set(body) == {"message", "code", "title"}, body
    assert body["code"].startswith(f"{code} ")
    if text is not None:
        assert text in body["message"], body["message"]
    return body["message"]


def patch(api, image_id, ops, ctype=PATCH21):
    return api.request("PATCH", f"v2/images/{image_id}", data=json.dumps(ops),
                       headers={"Content-Type": ctype})


def mk_image(api, **kw):
    kw.setdefault("name", "img-" + uuid.uuid4().hex[:8])
    return ok(api.post("v2/images", kw), 201)


def upload(api, image_id, data=b"kumo image data"):
    r = api.put(f"v2/images/{image_id}/file", data=data,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text


class Env:
    """Two projects with a member user each, plus a reader in project A."""


@pytest.fixture(scope="module")
def env(kumo, admin):
    e = Env()
    tag = uuid.uuid4().hex[:8]
    roles = {r["name"]: r["id"] for r in ok(admin.get("roles"))["roles"]}
    for name in ("member", "reader"):
        if name not in roles:
            roles[name] = ok(admin.post("roles", {"role": {"name": name}}), 201)["role"]["id"]
    e.pw = "pw-" + tag
    for p in ("a", "b"):
        proj = ok(admin.post("projects", {"project": {"name": f"img-{p}-{tag}",
                                                      "domain_id": "default"}}), 201)["project"]
        user = ok(admin.post("users", {"user": {"name": f"img-{p}-{tag}", "password": e.pw,
                                                "domain_id": "default"}}), 201)["user"]
        ok(admin.put(f"projects/{proj['id']}/users/{user['id']}/roles/{roles['member']}"), 204)
        setattr(e, f"project_{p}", proj["id"])
        setattr(e, f"user_{p}", user["name"])
        setattr(e, p, kumo.glance(kumo.token(user["name"], e.pw, project=proj["id"])))
    reader = ok(admin.post("users", {"user": {"name": f"img-r-{tag}", "password": e.pw,
                                              "domain_id": "default"}}), 201)["user"]
    ok(admin.put(f"projects/{e.project_a}/users/{reader['id']}/roles/{roles['reader']}"), 204)
    e.reader = kumo.glance(kumo.token(reader["name"], e.pw, project=e.project_a))
    e.admin = kumo.glance()
    e.schema = ok(e.admin.get("v2/schemas/image"))
    return e


def valid(env, image):
    """The image validates against the served schema (as warlock does)."""
    jsonschema.validate(image, env.schema)
    return image


# ---------------------------------------------------------------- versions

def test_versions(kumo):
    r = requests.get(kumo.image_url + "/", timeout=10)
    assert r.status_code == 300
    versions = r.json()["versions"]
    ids = [v["id"] for v in versions]
    assert "v2.0" in ids and [v for v in versions if v["status"] == "CURRENT"]
    for v in versions:
        assert v["links"] == [{"rel": "self", "href": kumo.image_url + "/v2/"}]
        assert v["status"] in ("CURRENT", "SUPPORTED")
    assert requests.get(kumo.image_url + "/versions", timeout=10).json() == r.json()
    assert requests.get(kumo.image_url + "/versions", timeout=10).status_code == 200
    # an unknown version prefix gets the choices, without a token
    assert requests.get(kumo.image_url + "/v1/images", timeout=10).status_code == 300
    # a known one needs a token and is a plain 404 when nothing is there
    assert requests.get(kumo.image_url + "/v2", timeout=10).status_code == 401


def test_needs_token(kumo):
    r = requests.get(kumo.image_url + "/v2/images", headers={"Accept": "application/json"},
                     timeout=10)
    err(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    r = requests.get(kumo.image_url + "/v2/images", timeout=10,
                     headers={"X-Auth-Token": "garbage", "Accept": "application/json"})
    err(r, 401)


def test_v2_unknown_paths(env):
    err(env.admin.get("v2"), 404)
    err(env.admin.get("v2/nothing/here"), 404)
    err(env.admin.get("v2/images/"), 404)            # tempest: show_image("")
    err(env.admin.delete("v2/images/"), 404)         # tempest: delete_image("")
    r = env.admin.put("v2/images", {})
    err(r, 405)
    assert r.headers["Allow"] == "GET, POST"


# ---------------------------------------------------------------- error dialect

def test_error_renderings(env):
    missing = str(uuid.uuid4())
    url = f"v2/images/{missing}"
    r = env.admin.get(url, headers={"Accept": "*/*"})
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert r.text == ("<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n"
                      f"  <h1>404 Not Found</h1>\n  No image found with ID {missing}"
                      "<br /><br />\n\n\n\n </body>\n</html>")
    r = env.admin.get(url, headers={"Accept": "application/json"})
    assert r.json() == {"message": f"No image found with ID {missing}<br /><br />\n\n\n",
                        "code": "404 Not Found", "title": "Not Found"}
    r = env.admin.s.get(env.admin.url(url), headers={"X-Auth-Token": env.admin.token,
                                                     "Accept": None}, timeout=10)
    assert r.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert r.text == f"404 Not Found\n\nNo image found with ID {missing}\n\n   "


def test_glanceclient_shows_the_message(env):
    """glanceclient turns the HTML body into '404 Not Found: <message>'."""
    from glanceclient import exc
    missing = str(uuid.uuid4())
    r = env.admin.get(f"v2/images/{missing}", headers={"Accept": "*/*"})
    e = exc.from_response(r, r.content)
    assert isinstance(e, exc.HTTPNotFound)
    assert e.details == f"404 Not Found: No image found with ID {missing}"


# ---------------------------------------------------------------- schemas

def test_schemas(env):
    img = ok(env.admin.get("v2/schemas/image"))
    assert img["name"] == "image"
    assert img["additionalProperties"] == {"type": "string"}
    assert img["properties"]["disk_format"]["enum"] == [
        None, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
    assert img["properties"]["container_format"]["enum"] == [
        None, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
    assert img["properties"]["visibility"]["enum"] == ["community", "public", "private",
                                                       "shared"]
    assert img["properties"]["kernel_id"]["is_base"] is False
    assert {"rel": "enclosure", "href": "{file}"} in img["links"]
    jsonschema.Draft4Validator.check_schema(img)
    imgs = ok(env.admin.get("v2/schemas/images"))
    assert imgs["name"] == "images" and imgs["properties"]["images"]["items"] == img
    member = ok(env.admin.get("v2/schemas/member"))
    assert member["name"] == "member"
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    members = ok(env.admin.get("v2/schemas/members"))
    assert members["properties"]["members"]["items"] == member
    r = env.admin.request("GET", "v2/schemas/image", data="{}")
    err(r, 400, "A body is not expected with this request.")
    err(env.admin.post("v2/schemas/image", {}), 405)


@pytest.mark.parametrize("doc,name", [
    ("namespace", "namespace"), ("namespaces", "namespaces"),
    ("resource_type", "resource_type_association"),
    ("resource_types", "resource_type_associations"), ("property", "property"),
    ("properties", "properties"), ("object", "object"), ("objects", "objects"),
    ("tag", "tag"), ("tags", "tags")])
def test_metadef_schemas(env, doc, name):
    body = ok(env.a.get(f"v2/schemas/metadefs/{doc}"))
    assert body["name"] == name
    jsonschema.Draft4Validator.check_schema(body)


# ---------------------------------------------------------------- create / show

def test_create_show_defaults(env):
    img = valid(env, mk_image(env.a, disk_format="qcow2", container_format="bare"))
    assert set(img) == CORE | set()
    assert img["status"] == "queued" and img["visibility"] == "shared"
    assert img["owner"] == env.project_a
    assert img["size"] is None and img["virtual_size"] is None and img["checksum"] is None
    assert img["os_hash_algo"] is None and img["os_hash_value"] is None
    assert img["protected"] is False and img["os_hidden"] is False
    assert img["min_disk"] == 0 and img["min_ram"] == 0 and img["tags"] == []
    assert img["self"] == f"/v2/images/{img['id']}"
    assert img["file"] == f"/v2/images/{img['id']}/file"
    assert img["schema"] == "/v2/schemas/image"
    assert img["created_at"].endswith("Z") and len(img["created_at"]) == 20
    uuid.UUID(img["id"])
    assert ok(env.a.get(f"v2/images/{img['id']}")) == img


def test_create_everything(env):
    iid = str(uuid.uuid4())
    r = env.a.post("v2/images", {
        "id": iid, "name": "full", "disk_format": "raw", "container_format": "ovf",
        "visibility": "private", "min_disk": 3, "min_ram": 512, "protected": True,
        "os_hidden": True, "tags": ["x", "y", "x"], "os_distro": "debian", "foo": "bar",
        "kernel_id": None})
    img = valid(env, ok(r, 201))
    assert r.headers["Location"] == f"{env.a.base}/v2/images/{iid}"
    assert r.headers["OpenStack-image-import-methods"]
    assert img["id"] == iid and img["min_disk"] == 3 and img["min_ram"] == 512
    assert img["protected"] is True and img["os_hidden"] is True
    assert sorted(img["tags"]) == ["x", "y"]
    assert img["os_distro"] == "debian" and img["foo"] == "bar"
    assert img["kernel_id"] is None    # the schema lets this one be null
    # the same id again
    err(env.a.post("v2/images", {"id": iid}), 409, f"Image ID {iid} already exists!")
    ok(patch(env.a, iid, [{"op": "replace", "path": "/protected", "value": False}]))
    ok(env.a.delete(f"v2/images/{iid}"), 204)
    # ... even after it was deleted (Glance never reuses an id)
    err(env.a.post("v2/images", {"id": iid}), 409)


@pytest.mark.parametrize("body,code,text", [
    ({"disk_format": "wrong"}, 400, "'wrong' is not one of [None, 'ami'"),
    ({"container_format": "wrong"}, 400, "is not one of"),
    ({"visibility": "everyone"}, 400, "'everyone' is not one of"),
    ({"name": 5}, 400, "5 is not of type 'null', 'string'"),
    ({"name": "x" * 256}, 400, "is too long"),
    ({"min_disk": "1"}, 400, "'1' is not of type 'integer'"),
    ({"min_ram": True}, 400, "True is not of type 'integer'"),
    ({"protected": "yes"}, 400, "'yes' is not of type 'boolean'"),
    ({"tags": "a"}, 400, "'a' is not of type 'array'"),
    ({"tags": ["t" * 256]}, 400, "is too long"),
    ({"custom": 1}, 400, "1 is not of type 'string'"),
    ({"id": "not-a-uuid"}, 400, "does not match"),
    ({"kernel_id": "nope"}, 400, "does not match"),
    ({"min_disk": -1}, 400, "Invalid value '-1' for parameter 'min_disk': Cannot be a negative"),
    ({"min_ram": 2 ** 31}, 400, "'min_ram' value out of range, must not exceed 2147483647."),
    ({"k" * 256: "v"}, 400, "Custom property should not be greater than 255 characters."),
    ({"name": "\U0001F600"}, 400, "Name can't contain 4 byte unicode characters."),
    ({"self": "x"}, 403, "Attribute 'self' is read-only."),
    ({"file": "x"}, 403, "Attribute 'file' is read-only."),
    ({"status": "active"}, 403, "Attribute 'status' is read-only."),
    ({"size": 5}, 403, "Attribute 'size' is read-only."),
    ({"checksum": "x"}, 403, "Attribute 'checksum' is read-only."),
    ({"created_at": "x"}, 403, "Attribute 'created_at' is read-only."),
    ({"deleted": "x"}, 403, "Attribute 'deleted' is reserved."),
    ({"os_glance_foo": "x"}, 403, "Attribute 'os_glance_foo' is reserved."),
    ({"locations": []}, 403, "Attribute 'locations' is reserved."),
    ({"visibility": "public"}, 403, "You are not authorized to complete publicize_image action."),
])
def test_create_bad_input(env, body, code, text):
    err(env.a.post("v2/images", body), code, text)


def test_create_schema_message_is_jsonschemas(env):
    msg = err(env.a.post("v2/images", {"container_format": "wrong"}), 400)
    assert msg.startswith("Provided object does not match schema 'image': 'wrong' is not one "
                          "of [None, 'ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', "
                          "'compressed']\n\nFailed validating 'enum' in "
                          "schema['properties']['container_format']:\n    {")
    assert "\n\nOn instance['container_format']:\n    'wrong'" in msg


def test_create_bodies(env):
    r = env.a.request("POST", "v2/images", data="{not json",
                      headers={"Content-Type": "application/json"})
    err(r, 400, "Malformed JSON in request body.")
    err(env.a.request("POST", "v2/images", data="3",
                      headers={"Content-Type": "application/json"}), 400,
        "Unexpected body type. Expected list/dict.")
    err(env.a.request("POST", "v2/images"), 400, "Body expected in request.")
    big = json.dumps({"name": "big", "description": "x" * (10 << 20)})
    r = env.a.request("POST", "v2/images", data=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_owner_on_create(env):
    err(env.a.post("v2/images", {"owner": env.project_b}), 403,
        f"You are not permitted to create images owned by '{env.project_b}'")
    img = mk_image(env.admin, owner=env.project_b)          # an admin may
    assert img["owner"] == env.project_b
    assert ok(env.b.get(f"v2/images/{img['id']}"))["id"] == img["id"]
    err(env.reader.post("v2/images", {}), 403, "You are not authorized to complete add_image")


def test_show_unknown(env):
    err(env.a.get(f"v2/images/{uuid.uuid4()}"), 404, "No image found with ID")
    err(env.a.get("v2/images/" + "x" * 100), 404)


# ---------------------------------------------------------------- update (PATCH)

def test_patch_core_and_custom(env):
    img = mk_image(env.a, disk_format="raw", container_format="bare", foo="bar")
    iid = img["id"]
    new = valid(env, ok(patch(env.a, iid, [
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/min_ram", "value": 128},
        {"op": "replace", "path": "/foo", "value": "baz"},
        {"op": "add", "path": "/hw_cpu_cores", "value": "5"},
        {"op": "add", "path": "/trait:STORAGE_DISK_SSD", "value": "required"},
        {"op": "replace", "path": "/tags", "value": ["t1", "t2"]},
        {"op": "replace", "path": "/visibility", "value": "private"},
        {"op": "add", "path": "/os_hidden", "value": True},
    ])))
    assert new["name"] == "renamed" and new["min_ram"] == 128 and new["foo"] == "baz"
    assert new["hw_cpu_cores"] == "5" and new["trait:STORAGE_DISK_SSD"] == "required"
    assert sorted(new["tags"]) == ["t1", "t2"] and new["visibility"] == "private"
    assert new["os_hidden"] is True
    assert new["updated_at"] >= img["updated_at"]
    assert ok(env.a.get(f"v2/images/{iid}")) == new
    gone = ok(patch(env.a, iid, [{"op": "remove", "path": "/foo"}]))
    assert "foo" not in gone
    # "~1" is "/" inside a name
    r = ok(patch(env.a, iid, [{"op": "add", "path": "/a~1b", "value": "c"}]))
    assert r["a/b"] == "c"
    # an empty list changes nothing
    assert ok(patch(env.a, iid, [])) == ok(env.a.get(f"v2/images/{iid}"))


def test_patch_rules(env):
    iid = mk_image(env.a, disk_format="raw", container_format="bare")["id"]
    cases = [
        ([{"op": "remove", "path": "/nope"}], 409, "Property nope does not exist."),
        ([{"op": "replace", "path": "/nope", "value": "x"}], 409, "Property nope does not exist."),
        ([{"op": "remove", "path": "/name"}], 403, "Property name may not be removed."),
        ([{"op": "replace", "path": "/id", "value": "x"}], 403, "Attribute 'id' is read-only."),
        ([{"op": "add", "path": "/status", "value": "active"}], 403,
         "Attribute 'status' is read-only."),
        ([{"op": "add", "path": "/checksum", "value": "x"}], 403, "read-only"),
        ([{"op": "add", "path": "/deleted", "value": "x"}], 403,
         "Attribute 'deleted' is reserved."),
        ([{"op": "add", "path": "/os_glance_x", "value": "x"}], 403, "is reserved"),
        ([{"op": "replace", "path": "/owner", "value": env.project_b}], 403,
         "Owner can't be updated by non admin."),
        ([{"op": "replace", "path": "/visibility", "value": "public"}], 403,
         "You are not authorized to complete publicize_image action."),
        ([{"op": "add", "path": "/locations/-", "value": {"url": "http://x", "metadata": {}}}],
         403, "It's not allowed to add locations if locations are invisible."),
        ([{"op": "replace", "path": "/locations", "value": []}], 403,
         "Cannot set locations to empty list."),
        ([{"op": "replace", "path": "/min_disk", "value": -5}], 400,
         "Invalid value '-5' for parameter 'min_disk': Cannot be a negative value"),
        ([{"op": "replace", "path": "/min_disk", "value": "5"}], 400,
         "'5' is not of type 'integer'"),
        ([{"op": "add", "path": "/custom", "value": 5}], 400, "5 is not of type 'string'"),
        ([{"op": "add", "path": "/a/b", "value": "x"}], 400,
         "Invalid JSON pointer for this resource: '/a/b'"),
        ([{"op": "add", "path": "name", "value": "x"}], 400,
         'Pointer `name` does not start with "/".'),
        ([{"op": "add", "path": "/a~2", "value": "x"}], 400, "not part of a recognized escape"),
        ([{"op": "add", "path": "/a//b", "value": "x"}], 400, 'contains adjacent "/"'),
        ([{"op": "add", "path": "/a/", "value": "x"}], 400, 'end with "/"'),
        ([{"op": "move", "path": "/name", "value": "x"}], 400, "Invalid operation: `move`"),
        ([{"path": "/name", "value": "x"}], 400, "Unable to find `op` in JSON Schema change"),
        ([{"op": "add", "value": "x"}], 400, "Unable to find 'path' in JSON Schema change"),
        ([{"op": "add", "path": "/name"}], 400, 'Operation "add" requires a member named "value".'),
        (["add"], 400, "Operations must be JSON objects."),
        ({"op": "add"}, 400, "Request body must be a JSON array of operation objects."),
    ]
    for ops, code, text in cases:
        err(patch(env.a, iid, ops), code, text)
    # nothing of the above was applied, even partly
    ok(patch(env.a, iid, [{"op": "add", "path": "/keep", "value": "1"}]))
    r = patch(env.a, iid, [{"op": "replace", "path": "/keep", "value": "2"},
                           {"op": "remove", "path": "/nope"}])
    err(r, 409)
    assert ok(env.a.get(f"v2/images/{iid}"))["keep"] == "1"


def test_patch_media_types(env):
    iid = mk_image(env.a)["id"]
    for ctype in ("application/json", "application/json-patch+json", None):
        headers = {"Content-Type": ctype} if ctype else {}
        r = env.a.request("PATCH", f"v2/images/{iid}", headers=headers,
                          data=json.dumps([{"op": "replace", "path": "/name", "value": "x"}]))
        msg = err(r, 415, "Image PATCH expects Content-Type one of: "
                          f"{PATCH20}, {PATCH21}")
        assert msg.startswith("The request media type ")
        assert r.headers["Accept-Patch"] == f"{PATCH20}, {PATCH21}"
    # draft 4 (v2.0): {"add": "/path"}, add on an existing property is a 409
    r = ok(patch(env.a, iid, [{"replace": "/name", "value": "d4"},
                              {"add": "/color", "value": "red"}], PATCH20))
    assert r["name"] == "d4" and r["color"] == "red"
    err(patch(env.a, iid, [{"add": "/color", "value": "blue"}], PATCH20), 409,
        "Property color already present.")
    err(patch(env.a, iid, [{"add": "/x", "remove": "/y", "value": "z"}], PATCH20), 400,
        "Operation objects must contain only one member")
    # with v2.1 "add" replaces
    assert ok(patch(env.a, iid, [{"op": "add", "path": "/color", "value": "blue"}]))[
        "color"] == "blue"
    # charset parameters are fine
    r = env.a.request("PATCH", f"v2/images/{iid}",
                      headers={"Content-Type": PATCH21 + "; charset=UTF-8"},
                      data=json.dumps([{"op": "replace", "path": "/name", "value": "cs"}]))
    assert ok(r)["name"] == "cs"


def test_formats_frozen_after_upload(env):
    iid = mk_image(env.a, disk_format="raw", container_format="bare")["id"]
    ok(patch(env.a, iid, [{"op": "replace", "path": "/disk_format", "value": "qcow2"}]))
    upload(env.a, iid)
    err(patch(env.a, iid, [{"op": "replace", "path": "/disk_format", "value": "raw"}]), 403,
        "Attribute disk_format can be only replaced for a queued image.")
    # but other attributes still change
    ok(patch(env.a, iid, [{"op": "replace", "path": "/name", "value": "after"}]))


def test_patch_owner_as_admin(env):
    iid = mk_image(env.a, visibility="private")["id"]
    r = ok(patch(env.admin, iid, [{"op": "replace", "path": "/owner", "value": env.project_b}]))
    assert r["owner"] == env.project_b
    err(env.a.get(f"v2/images/{iid}"), 404)
    assert ok(env.b.get(f"v2/images/{iid}"))["id"] == iid


def test_property_quota(env, kumo):
    iid = mk_image(env.a, **{f"p{i}": "v" for i in range(128)})["id"]
    err(patch(env.a, iid, [{"op": "add", "path": "/p128", "value": "v"}]), 413,
        "The limit has been exceeded on the number of allowed image properties. "
        "Attempted: 129, Maximum: 128")
    # replacing within the quota is fine
    ok(patch(env.a, iid, [{"op": "replace", "path": "/p1", "value": "w"}]))
    err(env.a.post("v2/images", {f"q{i}": "v" for i in range(129)}), 413)


# ---------------------------------------------------------------- delete

def test_delete(env):
    iid = mk_image(env.a)["id"]
    ok(env.a.delete(f"v2/images/{iid}"), 204)
    err(env.a.get(f"v2/images/{iid}"), 404)
    err(env.a.delete(f"v2/images/{iid}"), 404, f"Failed to find image {iid} to delete")
    assert iid not in [i["id"] for i in ok(env.admin.get("v2/images",
                                                          params={"limit": 1000}))["images"]]


def test_delete_protected(env):
    iid = mk_image(env.a, protected=True)["id"]
    err(env.a.delete(f"v2/images/{iid}"), 403, f"Image {iid} is protected and cannot be deleted.")
    err(env.admin.delete(f"v2/images/{iid}"), 403)
    ok(patch(env.a, iid, [{"op": "replace", "path": "/protected", "value": False}]))
    ok(env.a.delete(f"v2/images/{iid}"), 204)


def test_delete_removes_data(env, kumo):
    iid = mk_image(env.a, disk_format="raw", container_format="bare")["id"]
    upload(env.a, iid)
    assert (kumo.dir / "images" / iid).exists()
    ok(env.a.delete(f"v2/images/{iid}"), 204)
    assert not (kumo.dir / "images" / iid).exists()


# ---------------------------------------------------------------- visibility

def test_private_images_are_invisible_to_others(env):
    iid = mk_image(env.a, visibility="private")["id"]
    err(env.b.get(f"v2/images/{iid}"), 404, f"No image found with ID {iid}")
    err(patch(env.b, iid, [{"op": "replace", "path": "/name", "value": "x"}]), 404)
    err(env.b.delete(f"v2/images/{iid}"), 404)
    err(env.b.put(f"v2/images/{iid}/tags/x"), 404)
    err(env.b.post(f"v2/images/{iid}/actions/deactivate"), 404)
    assert iid not in [i["id"] for i in ok(env.b.get("v2/images"))["images"]]
    # the admin sees everything
    assert ok(env.admin.get(f"v2/images/{iid}"))["id"] == iid
    assert iid in [i["id"] for i in ok(env.admin.get("v2/images",
                                                      params={"limit": 1000}))["images"]]


def test_public_and_community(env):
    pub = mk_image(env.admin, visibility="public")["id"]
    com = mk_image(env.a, visibility="community")["id"]
    assert ok(env.b.get(f"v2/images/{pub}"))["id"] == pub
    assert ok(env.b.get(f"v2/images/{com}"))["id"] == com
    ids_b = [i["id"] for i in ok(env.b.get("v2/images", params={"limit": 1000}))["images"]]
    assert pub in ids_b and com not in ids_b          # community only when asked for
    ids_b = [i["id"] for i in ok(env.b.get("v2/images", params={"visibility": "community"}))[
        "images"]]
    assert com in ids_b
    ids_a = [i["id"] for i in ok(env.a.get("v2/images", params={"limit": 1000}))["images"]]
    assert com in ids_a                                # the owner sees its own
    # others may see, not change
    err(patch(env.b, pub, [{"op": "replace", "path": "/name", "value": "x"}]), 403,
        "You are not authorized to complete modify_image action.")
    err(env.b.delete(f"v2/images/{com}"), 403)
    # a reader of the owning project may look, not touch
    assert ok(env.reader.get(f"v2/images/{com}"))["id"] == com
    err(patch(env.reader, com, [{"op": "replace", "path": "/name", "value": "x"}]), 403)
    # a member of the owner may make it community, not public
    ok(patch(env.a, com, [{"op": "replace", "path": "/visibility", "value": "private"}]))
    ok(patch(env.a, com, [{"op": "replace", "path": "/visibility", "value": "community"}]))


def test_hidden_images(env):
    iid = mk_image(env.a, os_hidden=True)["id"]
    listed = lambda **p: [i["id"] for i in ok(env.a.get("v2/images", params={  # noqa: E731
        "limit": 1000, **p}))["images"]]
    assert iid not in listed()
    assert iid in listed(os_hidden="true")
    assert iid in listed(os_hidden="TRUE")
    err(env.a.get("v2/images", params={"os_hidden": "maybe"}), 400,
        "Invalid value 'maybe' for 'os_hidden' filter. Valid values are 'true' or 'false'.")


# ---------------------------------------------------------------- list

@pytest.fixture(scope="module")
def listing(env):
    """Six images in project B with distinct names, formats and sizes."""
    tag = uuid.uuid4().hex[:6]
    made = []
    for i, (dfmt, cfmt) in enumerate([("raw", "bare"), ("qcow2", "bare"), ("vmdk", "ovf"),
                                      ("raw", "ovf"), ("qcow2", "ova"), ("iso", "bare")]):
        img = mk_image(env.b, name=f"ls-{tag}-{i}", disk_format=dfmt, container_format=cfmt,
                       visibility="private", tags=[f"t{i % 2}-{tag}"],
                       prop=f"v{i % 3}", kind=tag)
        if i < 4:
            upload(env.b, img["id"], b"x" * (100 * (i + 1)))
        made.append(ok(env.b.get(f"v2/images/{img['id']}")))
    return tag, made


def ids_of(r):
    return [i["id"] for i in ok(r)["images"]]


def test_list_shape(env, listing):
    tag, made = listing
    body = ok(env.b.get("v2/images"))
    assert set(body) >= {"images", "first", "schema"}
    assert body["first"] == "/v2/images" and body["schema"] == "/v2/schemas/images"
    for img in body["images"]:
        valid(env, img)
    # newest first by default
    mine = [i for i in body["images"] if i.get("kind") == tag]
    assert [i["id"] for i in mine] == [m["id"] for m in reversed(made)]


def test_list_filters(env, listing):
    tag, made = listing
    q = lambda **p: set(ids_of(env.b.get("v2/images", params={"kind": tag, **p})))  # noqa
    all_ids = {m["id"] for m in made}
    assert q() == all_ids
    assert q(name=made[2]["name"]) == {made[2]["id"]}
    assert q(name=f"in:{made[0]['name']},{made[1]['name']}") == {made[0]["id"], made[1]["id"]}
    assert q(id=f"in:{made[3]['id']},{made[4]['id']}") == {made[3]["id"], made[4]["id"]}
    assert q(disk_format="raw") == {made[0]["id"], made[3]["id"]}
    assert q(container_format="ovf") == {made[2]["id"], made[3]["id"]}
    assert q(status="active") == {m["id"] for m in made[:4]}
    assert q(status="queued") == {m["id"] for m in made[4:]}
    assert q(visibility="private") == all_ids
    assert q(visibility="public") == set()
    assert q(owner=env.project_b) == all_ids
    assert q(size=200) == {made[1]["id"]}
    assert q(size_min=200, size_max=300) == {made[1]["id"], made[2]["id"]}
    assert q(tag=f"t1-{tag}") == {made[1]["id"], made[3]["id"], made[5]["id"]}
    assert q(prop="v0") == {made[0]["id"], made[3]["id"]}
    assert q(protected="false") == all_ids and q(protected="true") == set()
    assert q(checksum=made[0]["checksum"]) == {made[0]["id"]}
    first = made[0]["created_at"]
    assert q(created_at=f"gte:{first}") == all_ids
    assert q(created_at="lt:2000-01-01T00:00:00Z") == set()
    assert q(updated_at="gt:2999-01-01T00:00:00Z") == set()
    # another project's images never come through a filter
    assert set(ids_of(env.a.get("v2/images", params={"kind": tag}))) == set()


@pytest.mark.parametrize("params,text", [
    ({"visibility": "everybody"}, "Invalid visibility value: everybody"),
    ({"member_status": "maybe"}, "Invalid status: maybe"),
    ({"limit": "x"}, "limit param must be an integer"),
    ({"limit": "-1"}, "limit param must be positive"),
    ({"sort_key": "owner"}, "Invalid sort key: owner. It must be one of the following: name, "
                            "status, container_format, disk_format, size, id, created_at, "
                            "updated_at."),
    ({"sort_dir": "up"}, "Invalid sort direction: up"),
    ({"sort": "name:up"}, "Invalid sort direction: up"),
    ({"sort": "name", "sort_key": "name"}, "Old and new sorting syntax cannot be combined"),
    ({"protected": "True"}, "Invalid value 'True' for 'protected' filter."),
    ({"size_min": "big"}, "Unable to filter on a range with a non-numeric value."),
    ({"name": "like:x"}, "Unable to filter by unknown operator 'like'."),
    ({"created_at": "gt:yesterday"}, 'Bad "created_at" query filter format.'),
    ({"created_at": "foo:2020-01-01T00:00:00Z"}, "Unable to filter on a unknown operator."),
    ({"name": 'in:a,"b'}, "The quote is not closed."),
    ({"changes-since": "2020-01-01T00:00:00Z"}, 'The "changes-since" filter is no longer'),
    ({"marker": "00000000-0000-0000-0000-000000000000"},
     "No image found with ID 00000000-0000-0000-0000-000000000000"),
])
def test_list_bad_params(env, params, text):
    err(env.b.get("v2/images", params=params), 400, text)


def test_list_sort_and_pages(env, listing):
    tag, made = listing
    body = ok(env.b.get("v2/images", params={"kind": tag, "sort": "name:asc"}))
    assert [i["id"] for i in body["images"]] == [m["id"] for m in made]
    body = ok(env.b.get("v2/images", params={"kind": tag, "sort_key": "name",
                                              "sort_dir": "desc"}))
    assert [i["id"] for i in body["images"]] == [m["id"] for m in reversed(made)]
    sizes = [i["size"] for i in ok(env.b.get("v2/images", params={
        "kind": tag, "sort": "size:desc,name:asc"}))["images"]]
    assert sizes == [400, 300, 200, 100, None, None]
    two = ok(env.b.get("v2/images", params={"kind": tag, "sort_key": ["disk_format", "name"],
                                             "sort_dir": ["asc", "desc"]}))["images"]
    want = sorted(made, key=lambda m: m["name"], reverse=True)
    want = sorted(want, key=lambda m: m["disk_format"])
    assert [i["id"] for i in two] == [m["id"] for m in want]
    # pages of two, following "next"
    seen = []
    url = env.b.url("v2/images") + f"?kind={tag}&limit=2&sort=name:asc"
    pages = 0
    while url:
        body = ok(env.b.get(url))
        seen += [i["id"] for i in body["images"]]
        pages += 1
        assert "marker" not in body["first"]
        url = env.b.base + body["next"] if "next" in body else None
    assert seen == [m["id"] for m in made]
    assert pages == 4          # 2 + 2 + 2 + an empty last page, as Glance
    body = ok(env.b.get("v2/images", params={"kind": tag, "limit": 2, "sort": "name:asc"}))
    assert body["first"] == f"/v2/images?kind={tag}&limit=2&sort=name%3Aasc"
    assert body["next"] == (f"/v2/images?kind={tag}&limit=2&sort=name%3Aasc"
                            f"&marker={made[1]['id']}")
    assert ok(env.b.get("v2/images", params={"kind": tag, "limit": 0}))["images"] == []
    # a marker of another project's private image is refused
    other = mk_image(env.a, visibility="private")["id"]
    err(env.b.get("v2/images", params={"marker": other}), 403)


def test_list_policy(env):
    # a reader may list; a project without any role on it cannot get a token
    assert ok(env.reader.get("v2/images"))["images"] is not None


# ---------------------------------------------------------------- tags

def test_tags(env):
    iid = mk_image(env.a, tags=["one"])["id"]
    ok(env.a.put(f"v2/images/{iid}/tags/two"), 204)
    ok(env.a.put(f"v2/images/{iid}/tags/two"), 204)              # idempotent
    assert sorted(ok(env.a.get(f"v2/images/{iid}"))["tags"]) == ["one", "two"]
    ok(env.a.delete(f"v2/images/{iid}/tags/one"), 204)
    assert ok(env.a.get(f"v2/images/{iid}"))["tags"] == ["two"]
    err(env.a.delete(f"v2/images/{iid}/tags/one"), 404)
    err(env.a.put(f"v2/images/{uuid.uuid4()}/tags/x"), 404, "not found.")
    err(env.a.put(f"v2/images/{iid}/tags/" + "t" * 256), 400, "is too long")
    err(env.b.put(f"v2/images/{iid}/tags/x"), 404)                 # shared, not a member
    pub = mk_image(env.admin, visibility="public")["id"]
    err(env.b.put(f"v2/images/{pub}/tags/x"), 403,
        "You are not authorized to complete modify_image action.")


def test_tag_quota(env):
    iid = mk_image(env.a, tags=[f"t{i}" for i in range(128)])["id"]
    err(env.a.put(f"v2/images/{iid}/tags/one-more"), 413, "Image tag limit exceeded for image")
    err(env.a.post("v2/images", {"tags": [f"t{i}" for i in range(129)]}), 413,
        "Attempted: 129, Maximum: 128")


# ---------------------------------------------------------------- deactivate

def test_deactivate_reactivate(env):
    iid = mk_image(env.a, disk_format="raw", container_format="bare")["id"]
    err(env.a.post(f"v2/images/{iid}/actions/deactivate"), 403,
        "Not allowed to deactivate image in status 'queued'")
    upload(env.a, iid)
    ok(env.a.post(f"v2/images/{iid}/actions/deactivate"), 204)
    assert ok(env.a.get(f"v2/images/{iid}"))["status"] == "deactivated"
    ok(env.a.post(f"v2/images/{iid}/actions/deactivate"), 204)       # a no-op
    r = env.a.get(f"v2/images/{iid}/file")
    assert r.status_code == 403
    err(env.reader.post(f"v2/images/{iid}/actions/reactivate"), 403,
        "You are not authorized to complete reactivate action.")
    ok(env.a.post(f"v2/images/{iid}/actions/reactivate"), 204)
    assert ok(env.a.get(f"v2/images/{iid}"))["status"] == "active"
    ok(env.a.post(f"v2/images/{iid}/actions/reactivate"), 204)       # a no-op
    assert env.a.get(f"v2/images/{iid}/file").status_code == 200
    err(env.a.post(f"v2/images/{uuid.uuid4()}/actions/reactivate"), 404)


# ---------------------------------------------------------------- members

def test_members_flow(env):
    iid = mk_image(env.a, disk_format="raw", container_format="bare")["id"]   # shared
    b_ids = lambda **p: ids_of(env.b.get("v2/images", params=p))             # noqa: E731
    m = ok(env.a.post(f"v2/images/{iid}/members", {"member": env.project_b}))
    assert m == {"member_id": env.project_b, "image_id": iid, "status": "pending",
                 "created_at": m["created_at"], "updated_at": m["updated_at"],
                 "schema": "/v2/schemas/member"}
    jsonschema.validate(m, ok(env.a.get("v2/schemas/member")))
    err(env.a.post(f"v2/images/{iid}/members", {"member": env.project_b}), 409,
        f"Member {env.project_b} is duplicated for image {iid}")
    # pending: B can get it, but it is not listed unless asked for
    assert ok(env.b.get(f"v2/images/{iid}"))["id"] == iid
    assert iid not in b_ids()
    assert iid in b_ids(member_status="pending", visibility="shared")
    assert iid in b_ids(member_status="all")
    # the owner may not accept for B
    err(env.a.put(f"v2/images/{iid}/members/{env.project_b}", {"status": "accepted"}), 403,
        "You are not authorized to complete modify_member action.")
    err(env.b.put(f"v2/images/{iid}/members/{env.project_b}", {"status": "maybe"}), 400,
        'Incorrect request: Status must be "pending", "accepted" or "rejected".')
    err(env.b.put(f"v2/images/{iid}/members/{env.project_b}", {}), 400, "Status not specified")
    m = ok(env.b.put(f"v2/images/{iid}/members/{env.project_b}", {"status": "accepted"}))
    assert m["status"] == "accepted"
    assert iid in b_ids()
    # B is a member, not an owner
    err(patch(env.b, iid, [{"op": "replace", "path": "/name", "value": "x"}]), 403)
    err(env.b.delete(f"v2/images/{iid}"), 403)
    err(env.b.post(f"v2/images/{iid}/members", {"member": "someone"}), 403,
        "You are not authorized to complete add_member action.")
    # the member list: the owner sees everyone, a member itself only
    ok(env.a.post(f"v2/images/{iid}/members", {"member": "third-project"}))
    members = ok(env.a.get(f"v2/images/{iid}/members"))
    assert members["schema"] == "/v2/schemas/members"
    assert {m["member_id"] for m in members["members"]} == {env.project_b, "third-project"}
    assert [m["member_id"] for m in ok(env.b.get(f"v2/images/{iid}/members"))["members"]] == [
        env.project_b]
    assert ok(env.a.get(f"v2/images/{iid}/members/{env.project_b}"))["status"] == "accepted"
    assert ok(env.b.get(f"v2/images/{iid}/members/{env.project_b}"))["status"] == "accepted"
    err(env.b.get(f"v2/images/{iid}/members/third-project"), 404,
        f"third-project not found in the member list of the image {iid}.")
    # rejected: gone from B's list, still reachable directly
    ok(env.b.put(f"v2/images/{iid}/members/{env.project_b}", {"status": "rejected"}))
    assert iid not in b_ids()
    assert iid in b_ids(member_status="rejected")
    # the member cannot remove itself; the owner can
    err(env.b.delete(f"v2/images/{iid}/members/{env.project_b}"), 403,
        "You are not authorized to complete delete_member action.")
    ok(env.a.delete(f"v2/images/{iid}/members/{env.project_b}"), 204)
    err(env.b.get(f"v2/images/{iid}"), 404)
    err(env.a.delete(f"v2/images/{iid}/members/{env.project_b}"), 404)


def test_members_only_for_shared(env):
    iid = mk_image(env.a, visibility="private")["id"]
    err(env.a.post(f"v2/images/{iid}/members", {"member": env.project_b}), 403,
        f"Not allowed to create members for image {iid}.")
    err(env.a.get(f"v2/images/{iid}/members"), 403, "Only shared images have members.")
    err(env.a.get(f"v2/images/{iid}/members/{env.project_b}"), 404,
        "Only shared images have members.")
    err(env.b.post(f"v2/images/{iid}/members", {"member": env.project_b}), 404,
        f"Image {iid} not found.")


def test_member_bodies(env):
    iid = mk_image(env.a)["id"]
    err(env.a.post(f"v2/images/{iid}/members", {}), 400, "Member to be added not specified")
    err(env.a.post(f"v2/images/{iid}/members", {"member": ""}), 400, "Member can't be empty")
    err(env.a.post(f"v2/images/{iid}/members", ["x"]), 400, "Expected a member in the form")
    err(env.a.request("POST", f"v2/images/{iid}/members"), 400, "Body expected in request.")


def test_member_visibility_change_keeps_members(env):
    iid = mk_image(env.a)["id"]
    ok(env.a.post(f"v2/images/{iid}/members", {"member": env.project_b}))
    ok(env.b.put(f"v2/images/{iid}/members/{env.project_b}", {"status": "accepted"}))
    ok(patch(env.a, iid, [{"op": "replace", "path": "/visibility", "value": "private"}]))
    err(env.b.get(f"v2/images/{iid}"), 404)
    ok(patch(env.a, iid, [{"op": "replace", "path": "/visibility", "value": "shared"}]))
    assert ok(env.b.get(f"v2/images/{iid}"))["id"] == iid


# ---------------------------------------------------------------- the real clients

def cli_env(kumo, env, user=None, project=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    e.update({
        "OS_AUTH_URL": kumo.url + "/v3", "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user or kumo.admin_user,
        "OS_PASSWORD": env.pw if user else kumo.admin_password,
        "OS_PROJECT_NAME": project or kumo.admin_project,
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": kumo.region, "OS_IMAGE_API_VERSION": "2",
        "HOME": str(kumo.dir), "PATH": "/usr/bin:/bin",
    })
    return e


def run(args, env, ok_=True):
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    if ok_:
        assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return r


def osc(kumo, env, *args, fmt="json", ok_=True):
    a = ["/usr/bin/openstack", *args] + (["-f", fmt] if fmt else [])
    r = run(a, cli_env(kumo, env), ok_)
    return json.loads(r.stdout) if ok_ and fmt == "json" and r.stdout.strip() else r


def test_openstack_client(kumo, env, tmp_path):
    name = "osc-" + uuid.uuid4().hex[:6]
    img = osc(kumo, env, "image", "create", "--disk-format", "qcow2", "--container-format",
              "bare", "--property", "os_distro=debian", "--tag", "t1", "--min-ram", "64",
              "--private", name)
    assert img["name"] == name and img["disk_format"] == "qcow2"
    assert img["visibility"] == "private" and img["min_ram"] == 64
    iid = img["id"]
    # without --file the client uploads its (empty) stdin: the image is active
    assert osc(kumo, env, "image", "show", iid)["status"] == "active"
    listed = osc(kumo, env, "image", "list")
    assert {"ID": iid, "Name": name, "Status": "active"} in listed
    listed = osc(kumo, env, "image", "list", "--private", "--long")
    assert iid in [i["ID"] for i in listed]
    shown = osc(kumo, env, "image", "show", name)
    assert shown["id"] == iid and shown["properties"]["os_distro"] == "debian"
    assert shown["tags"] == ["t1"]
    osc(kumo, env, "image", "set", "--name", name + "-2", "--property", "color=red",
        "--min-disk", "2", "--tag", "t2", "--protected", iid, fmt=None)
    shown = osc(kumo, env, "image", "show", iid)
    assert shown["name"] == name + "-2" and shown["min_disk"] == 2
    assert shown["properties"]["color"] == "red" and shown["protected"] is True
    assert sorted(shown["tags"]) == ["t1", "t2"]
    r = osc(kumo, env, "image", "delete", iid, fmt=None, ok_=False)
    assert r.returncode != 0
    osc(kumo, env, "image", "unset", "--property", "color", "--tag", "t1", iid, fmt=None)
    osc(kumo, env, "image", "set", "--unprotected", "--public", iid, fmt=None)
    shown = osc(kumo, env, "image", "show", iid)
    assert "color" not in shown["properties"] and shown["tags"] == ["t2"]
    assert shown["visibility"] == "public" and shown["protected"] is False
    # members through the CLI
    osc(kumo, env, "image", "set", "--shared", iid, fmt=None)
    osc(kumo, env, "image", "add", "project", iid, env.project_b)
    members = osc(kumo, env, "image", "member", "list", iid)
    assert [m["Member ID"] for m in members] == [env.project_b]
    osc(kumo, env, "image", "delete", iid, fmt=None)
    r = osc(kumo, env, "image", "show", iid, fmt=None, ok_=False)
    assert r.returncode != 0 and "No Image found" in r.stderr or "404" in r.stderr


def test_glance_client(kumo, env):
    iid = mk_image(env.admin, name="gl-" + uuid.uuid4().hex[:6], disk_format="raw",
                   container_format="bare", visibility="public", os_distro="x")["id"]
    e = cli_env(kumo, env)
    r = run(["/usr/bin/glance", "image-list"], e)
    assert iid in r.stdout
    # glanceclient pages by 20 and follows "next": it sees what the API has
    listed = {line.split("|")[1].strip() for line in r.stdout.splitlines()
              if line.startswith("| ") and not line.startswith("| ID")}
    api = {i["id"] for i in ok(env.admin.get("v2/images", params={"limit": 1000}))["images"]}
    assert len(api) > 20 and listed == api
    r = run(["/usr/bin/glance", "image-show", iid], e)
    assert "os_distro" in r.stdout and "queued" in r.stdout
    r = run(["/usr/bin/glance", "image-update", "--property", "flavor=vanilla", iid], e)
    assert "vanilla" in r.stdout
    r = run(["/usr/bin/glance", "image-tag-update", iid, "gtag"], e)
    r = run(["/usr/bin/glance", "image-list", "--tag", "gtag"], e)
    assert iid in r.stdout
    missing = str(uuid.uuid4())
    r = run(["/usr/bin/glance", "image-show", missing], e, ok_=False)
    assert r.returncode != 0
    assert f"404 Not Found: No image found with ID {missing}" in r.stderr
    r = run(["/usr/bin/glance", "image-delete", iid], e)
    r = run(["/usr/bin/glance", "image-show", iid], e, ok_=False)
    assert r.returncode != 0
