#!/usr/bin/python3
"""Compare Kumo's Identity API with a reference OpenStack Keystone, field by field.

Design: one scenario (the function `scenario`) is a fixed sequence of labelled HTTP requests.
It runs once against each server ("side").  Every side keeps its own symbol table, so the
scenario speaks in symbols ("{dom1}", "{u1}") and each side substitutes its own ids.  Every
recorded response keeps the status, a few headers and the JSON body.  Before comparing, a
body is normalised: ids that a side knows become their symbol ("<dom1>"), so a wrong
reference (e.g. a project pointing at the wrong parent) still shows up; unknown ids,
timestamps, audit ids and URLs become placeholders, so only their JSON type is compared.
Names, descriptions, booleans, numbers, error codes and titles are compared by value; error
messages too, but their differences are "minor".  Lists of objects are matched by symbol or
name, other lists by their sorted contents.

All names created here start with a per-run prefix ("cmpXXXX-"); the scenario deletes what it
created, and a sweeper removes leftovers of earlier runs (names starting with "cmp").

Usage:
  /usr/bin/python3 tools/compare-keystone.py --ref http://127.0.0.1:15000 \
      --kumo http://127.0.0.1:25100 [--password secret] [--json out.json] [--only PREFIX]
Exit status 0 = no difference above "minor", 1 = differences, 2 = could not run.
"""

import argparse
import json
import random
import re
import string
import sys
import time

import requests

HEADERS_PRESENCE = ["x-subject-token", "x-openstack-request-id", "vary", "www-authenticate",
		    "content-type", "location", "openstack-api-version"]
HEADERS_VALUE = ["content-type", "vary", "www-authenticate"]
TIME_KEYS = {"expires_at", "issued_at", "password_expires_at", "created_at", "updated_at",
	     "last_active_at", "issued_before", "revoked_at"}
SYM_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class Side:
	"""One server under test: its base URL, session, symbol table and recorded answers."""

	def __init__(self, name, base, password):
		self.name = name
		self.base = base.rstrip("/")
		self.password = password
		self.sym = {}		# symbol -> id
		self.ids = {}		# id -> symbol
		self.tokens = {}	# token name -> token id
		self.records = []	# list of (label, record)
		self.seen = {}

	# symbols ---------------------------------------------------------------------------
	def reg(self, sym, ident):
		if isinstance(ident, str) and ident:
			self.sym[sym] = ident
			self.ids[ident] = sym

	def id(self, sym):
		return self.sym.get(sym, "missing0" + sym)

	def fmt(self, value):
		if isinstance(value, str):
			return SYM_RE.sub(lambda m: self.id(m.group(1)), value)
		if isinstance(value, dict):
			return {k: self.fmt(v) for k, v in value.items()}
		if isinstance(value, list):
			return [self.fmt(v) for v in value]
		return value

	# requests --------------------------------------------------------------------------
	def req(self, label, method, path, body=None, token="admin", headers=None, raw=None,
		record=True, subject=None):
		"""Send one request; path/body may hold {symbol}s; token/subject are token names
		(or literal strings when not a known name).  Returns (response, json or None)."""
		url = self.base + self.fmt(path)
		hdr = {}
		data = None
		if token:
			hdr["X-Auth-Token"] = self.tokens.get(token, token)
		if subject:
			hdr["X-Subject-Token"] = self.tokens.get(subject, subject)
		if raw is not None:
			data = raw
		elif body is not None:
			data = json.dumps(self.fmt(body))
			hdr["Content-Type"] = "application/json"
		hdr.update(headers or {})
		try:
			# a fresh connection each time: Debian's keystone-uwsgi.ini strips
			# Content-Length, so its answers are close-delimited and a pooled
			# connection would be reused after the server closed it.
			r = requests.request(method, url, data=data, headers=hdr, timeout=120,
						 allow_redirects=False)
		except requests.RequestException as e:
			rec = {"method": method, "path": path, "status": "EXC " + type(e).__name__,
			       "headers": {}, "body": None, "text": str(e)[:300]}
			if record:
				self._record(label, rec)
			return None, None
		js = None
		text = r.text
		if text:
			try:
				js = r.json()
			except ValueError:
				js = None
		rec = {"method": method, "path": path, "status": r.status_code,
		       "headers": {k.lower(): v for k, v in r.headers.items()},
		       "body": js, "text": None if js is not None else text[:300]}
		if record:
			self._record(label, rec)
		return r, js

	def _record(self, label, rec):
		n = self.seen.get(label, 0)
		self.seen[label] = n + 1
		if n:
			label = "%s#%d" % (label, n + 1)
		self.records.append((label, rec))

	def create(self, label, sym, coll, entity, body, **kw):
		if sym == "x":	# expected to fail: a name of its own, so one side's
			sym = label	# wrong success does not collide with later cases
			name = body.get("name")
			if isinstance(name, str) and name.lower().startswith("cmp") and \
			   "dup" not in label:
				body = dict(body, name=name + "-" + label.split(".")[-1][:24])
		expect_fail = sym == label
		r, js = self.req(label, "POST", "/v3/" + coll, {entity: body}, **kw)
		if js and isinstance(js.get(entity), dict):
			self.reg(sym, js[entity].get("id"))
			if expect_fail:	# undo a wrong success, so later answers stay comparable
				path = "/v3/%s/%s" % (coll, js[entity].get("id"))
				if coll == "domains" or js[entity].get("is_domain"):
					self.req("setup", "PATCH", path, {entity: {"enabled": False}},
						 record=False)
				self.req("setup", "DELETE", path, record=False)
		return r, js

	def auth(self, label, identity, scope=None, query="", token="admin", save=None, **kw):
		body = {"auth": {"identity": identity}}
		if scope is not None:
			body["auth"]["scope"] = scope
		r, js = self.req(label, "POST", "/v3/auth/tokens" + query, body, token=token, **kw)
		if save and r is not None and r.status_code == 201:
			self.tokens[save] = r.headers.get("X-Subject-Token")
		return r, js


def pw(name=None, uid=None, domain=None, password="secret"):
	user = {"password": password}
	if uid:
		user["id"] = uid
	if name:
		user["name"] = name
	if domain:
		user["domain"] = domain
	return {"methods": ["password"], "password": {"user": user}}


# ---------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------

def scenario(S, P):
	"""P is the run's name prefix (same on both sides)."""
	adm = pw(name="admin", domain={"name": "Default"}, password=S.password)
	S.auth("setup", adm, {"project": {"name": "admin", "domain": {"name": "Default"}}},
	       token=None, save="admin", record=False)
	setup_symbols(S)
	sweep(S)

	# -- version documents --------------------------------------------------------------
	S.req("ver.root", "GET", "/", token=None)
	S.req("ver.root_accept_json", "GET", "/", token=None, headers={"Accept": "application/json"})
	S.req("ver.v3", "GET", "/v3", token=None)
	S.req("ver.v3_slash", "GET", "/v3/", token=None)
	S.req("ver.v3_with_token", "GET", "/v3")
	S.req("ver.v3_head", "HEAD", "/v3", token=None)

	# -- token issue ----------------------------------------------------------------------
	S.auth("auth.pw_project_by_name", adm,
	       {"project": {"name": "admin", "domain": {"name": "Default"}}}, token=None)
	S.auth("auth.pw_project_by_id", pw(uid="{u_admin}", password=S.password),
	       {"project": {"id": "{p_admin}"}}, token=None, save="admin_p2")
	S.auth("auth.pw_project_nocatalog", adm, {"project": {"id": "{p_admin}"}},
	       query="?nocatalog", token=None)
	S.auth("auth.pw_user_domain_id", pw(name="admin", domain={"id": "default"},
					    password=S.password),
	       {"project": {"name": "admin", "domain": {"id": "default"}}}, token=None)
	S.auth("auth.pw_unscoped", adm, token=None, save="admin_unscoped")
	S.auth("auth.pw_system", adm, {"system": {"all": True}}, token=None, save="admin_system")
	S.auth("auth.pw_system_nocatalog", adm, {"system": {"all": True}}, query="?nocatalog",
	       token=None)
	S.auth("auth.pw_domain_no_role", adm, {"domain": {"id": "default"}}, token=None)
	body = {"auth": {"identity": {"methods": ["token"],
				      "token": {"id": S.tokens.get("admin_unscoped", "x")}},
			 "scope": {"project": {"id": "{p_admin}"}}}}
	r, js = S.req("auth.token_rescope_project", "POST", "/v3/auth/tokens", body, token=None)
	body = {"auth": {"identity": {"methods": ["token"],
				      "token": {"id": S.tokens.get("admin_unscoped", "x")}}}}
	S.req("auth.token_unscoped", "POST", "/v3/auth/tokens", body, token=None)
	body = {"auth": {"identity": {"methods": ["token"],
				      "token": {"id": S.tokens.get("admin_unscoped", "x")}},
			 "scope": {"system": {"all": True}}}}
	S.req("auth.token_rescope_system", "POST", "/v3/auth/tokens", body, token=None)
	body = {"auth": {"identity": {"methods": ["token"], "token": {"id": "garbage"}}}}
	S.req("auth.token_bad", "POST", "/v3/auth/tokens", body, token=None)
	body = {"auth": {"identity": {"methods": ["token"], "token": {}}}}
	S.req("auth.token_no_id", "POST", "/v3/auth/tokens", body, token=None)
	S.auth("auth.pw_wrong_password", pw(name="admin", domain={"name": "Default"},
					    password="wrong"), token=None)
	S.auth("auth.pw_unknown_user", pw(name=P + "nobody", domain={"name": "Default"}),
	       token=None)
	S.auth("auth.pw_unknown_user_id", pw(uid="0123456789abcdef0123456789abcdef"), token=None)
	S.auth("auth.pw_no_domain", pw(name="admin", password=S.password), token=None)
	S.auth("auth.pw_unknown_domain", pw(name="admin", domain={"name": P + "nodom"},
					    password=S.password), token=None)
	S.req("auth.pw_missing_password", "POST", "/v3/auth/tokens",
	      {"auth": {"identity": {"methods": ["password"], "password": {
		      "user": {"name": "admin", "domain": {"name": "Default"}}}}}}, token=None)
	S.req("auth.pw_password_int", "POST", "/v3/auth/tokens",
	      {"auth": {"identity": {"methods": ["password"], "password": {
		      "user": {"name": "admin", "domain": {"name": "Default"}, "password": 5}}}}},
	      token=None)
	S.req("auth.no_identity", "POST", "/v3/auth/tokens", {"auth": {}}, token=None)
	S.req("auth.no_auth", "POST", "/v3/auth/tokens", {}, token=None)
	S.req("auth.methods_not_list", "POST", "/v3/auth/tokens",
	      {"auth": {"identity": {"methods": "password"}}}, token=None)
	S.req("auth.unknown_method", "POST", "/v3/auth/tokens",
	      {"auth": {"identity": {"methods": ["foo"], "foo": {}}}}, token=None)
	S.req("auth.method_missing_section", "POST", "/v3/auth/tokens",
	      {"auth": {"identity": {"methods": ["password"]}}}, token=None)
	S.auth("auth.scope_unknown_project_id", adm, {"project": {"id": "0123456789abcdef0123"}},
	       token=None)
	S.auth("auth.scope_unknown_project_name", adm,
	       {"project": {"name": P + "nope", "domain": {"name": "Default"}}}, token=None)
	S.auth("auth.scope_project_name_no_domain", adm, {"project": {"name": "admin"}},
	       token=None)
	S.auth("auth.scope_two_scopes", adm, {"project": {"id": "{p_admin}"},
					      "domain": {"id": "default"}}, token=None)
	S.auth("auth.scope_unknown_domain", adm, {"domain": {"id": P + "nodom"}}, token=None)
	S.auth("auth.scope_system_false", adm, {"system": {"all": False}}, token=None)
	S.req("auth.bad_json", "POST", "/v3/auth/tokens", raw="{\"auth\": ", token=None,
	      headers={"Content-Type": "application/json"})

	# -- token validate / revoke ----------------------------------------------------------
	S.req("val.get_project", "GET", "/v3/auth/tokens", subject="admin_p2")
	S.req("val.get_project_nocatalog", "GET", "/v3/auth/tokens?nocatalog", subject="admin_p2")
	S.req("val.head_project", "HEAD", "/v3/auth/tokens", subject="admin_p2")
	S.req("val.head_nocatalog", "HEAD", "/v3/auth/tokens?nocatalog", subject="admin_p2")
	S.req("val.get_unscoped", "GET", "/v3/auth/tokens", subject="admin_unscoped")
	S.req("val.get_system", "GET", "/v3/auth/tokens", subject="admin_system")
	S.req("val.get_self", "GET", "/v3/auth/tokens", subject="admin")
	S.req("val.get_with_system_token", "GET", "/v3/auth/tokens", token="admin_system",
	      subject="admin_p2")
	S.req("val.get_with_unscoped_token", "GET", "/v3/auth/tokens", token="admin_unscoped",
	      subject="admin_p2")
	S.req("val.bad_subject", "GET", "/v3/auth/tokens", subject="garbage-token")
	S.req("val.head_bad_subject", "HEAD", "/v3/auth/tokens", subject="garbage-token")
	S.req("val.no_subject", "GET", "/v3/auth/tokens")
	S.req("val.no_auth_token", "GET", "/v3/auth/tokens", token=None, subject="admin_p2")
	S.req("val.bad_auth_token", "GET", "/v3/auth/tokens", token="garbage", subject="admin_p2")
	S.req("val.allow_expired", "GET", "/v3/auth/tokens?allow_expired=1", subject="admin_p2")
	S.req("cat.auth_catalog", "GET", "/v3/auth/catalog")
	S.req("cat.auth_catalog_unscoped", "GET", "/v3/auth/catalog", token="admin_unscoped")
	S.req("cat.auth_catalog_system", "GET", "/v3/auth/catalog", token="admin_system")
	S.req("cat.auth_catalog_no_token", "GET", "/v3/auth/catalog", token=None)
	S.req("cat.auth_projects", "GET", "/v3/auth/projects")
	S.req("cat.auth_projects_unscoped", "GET", "/v3/auth/projects", token="admin_unscoped")
	S.req("cat.auth_domains", "GET", "/v3/auth/domains")
	S.req("cat.auth_system", "GET", "/v3/auth/system")
	S.req("cat.auth_system_no_token", "GET", "/v3/auth/system", token=None)
	S.auth("setup", adm, token=None, save="throwaway", record=False)
	S.req("val.delete", "DELETE", "/v3/auth/tokens", subject="throwaway")
	S.req("val.get_after_delete", "GET", "/v3/auth/tokens", subject="throwaway")
	S.req("val.delete_again", "DELETE", "/v3/auth/tokens", subject="throwaway")
	S.req("val.delete_no_subject", "DELETE", "/v3/auth/tokens")
	S.req("val.use_deleted_token", "GET", "/v3/projects", token="throwaway")
	S.req("val.delete_bad_subject", "DELETE", "/v3/auth/tokens", subject="garbage-token")

	# -- domains ----------------------------------------------------------------------------
	S.create("dom.create", "dom1", "domains", "domain",
		 {"name": P + "dom1", "description": "first domain"})
	S.create("dom.create_disabled", "dom2", "domains", "domain",
		 {"name": P + "dom2", "enabled": False})
	S.create("dom.create_extra_attr", "dom3", "domains", "domain",
		 {"name": P + "dom3", "foo": "bar"})
	S.create("dom.create_explicit_id", "dom4", "domains", "domain",
		 {"name": P + "dom4", "id": "0123456789abcdef0123456789abcdef"})
	S.create("dom.create_dup", "x", "domains", "domain", {"name": P + "dom1"})
	S.create("dom.create_dup_case", "x", "domains", "domain", {"name": P.upper() + "DOM1"})
	S.create("dom.create_no_name", "x", "domains", "domain", {"description": "x"})
	S.create("dom.create_name_int", "x", "domains", "domain", {"name": 42})
	S.create("dom.create_name_empty", "x", "domains", "domain", {"name": ""})
	S.create("dom.create_name_long", "x", "domains", "domain", {"name": "d" * 65})
	S.create("dom.create_enabled_str", "x", "domains", "domain",
		 {"name": P + "domx", "enabled": "yes"})
	S.create("dom.create_description_int", "x", "domains", "domain",
		 {"name": P + "domx", "description": 5})
	S.req("dom.create_no_wrapper", "POST", "/v3/domains", {"name": P + "domx"})
	S.req("dom.create_wrapper_not_object", "POST", "/v3/domains", {"domain": "x"})
	S.req("dom.get", "GET", "/v3/domains/{dom1}")
	S.req("dom.get_default", "GET", "/v3/domains/default")
	S.req("dom.get_extra_attr", "GET", "/v3/domains/{dom3}")
	S.req("dom.get_unknown", "GET", "/v3/domains/nonexistent0")
	S.req("dom.list", "GET", "/v3/domains")
	S.req("dom.list_name", "GET", "/v3/domains?name=" + P + "dom1")
	S.req("dom.list_name_nomatch", "GET", "/v3/domains?name=" + P + "none")
	S.req("dom.list_enabled_false", "GET", "/v3/domains?enabled=false")
	S.req("dom.list_enabled_0", "GET", "/v3/domains?enabled=0")
	S.req("dom.list_unknown_filter", "GET", "/v3/domains?foo=bar")
	S.req("dom.update", "PATCH", "/v3/domains/{dom1}",
	      {"domain": {"description": "changed", "foo2": "x"}})
	S.req("dom.update_name_dup", "PATCH", "/v3/domains/{dom2}",
	      {"domain": {"name": P + "dom1"}})
	S.req("dom.update_id", "PATCH", "/v3/domains/{dom2}", {"domain": {"id": "newid"}})
	S.req("dom.update_enabled_str", "PATCH", "/v3/domains/{dom2}",
	      {"domain": {"enabled": "no"}})
	S.req("dom.update_empty", "PATCH", "/v3/domains/{dom2}", {"domain": {}})
	S.req("dom.update_unknown", "PATCH", "/v3/domains/nonexistent0",
	      {"domain": {"description": "x"}})
	S.req("dom.delete_enabled", "DELETE", "/v3/domains/{dom3}")
	S.req("dom.disable", "PATCH", "/v3/domains/{dom3}", {"domain": {"enabled": False}})
	S.req("dom.delete", "DELETE", "/v3/domains/{dom3}")
	S.req("dom.get_deleted", "GET", "/v3/domains/{dom3}")
	S.req("dom.delete_unknown", "DELETE", "/v3/domains/nonexistent0")
	S.req("dom.delete_default_enabled", "DELETE", "/v3/domains/default")

	# -- projects ---------------------------------------------------------------------------
	S.create("prj.create", "p1", "projects", "project",
		 {"name": P + "p1", "domain_id": "{dom1}", "description": "proj one",
		  "tags": ["t1", "t2"]})
	S.create("prj.create_child", "p2", "projects", "project",
		 {"name": P + "p2", "parent_id": "{p1}", "domain_id": "{dom1}"})
	S.create("prj.create_child_no_domain_id", "x", "projects", "project",
		 {"name": P + "p2x", "parent_id": "{p1}"})
	S.create("prj.create_default_domain", "p3", "projects", "project",
		 {"name": P + "p3", "description": ""})
	S.create("prj.create_disabled", "p4", "projects", "project",
		 {"name": P + "p4", "domain_id": "{dom1}", "enabled": False})
	S.create("prj.create_is_domain", "pd", "projects", "project",
		 {"name": P + "pdom", "is_domain": True})
	S.create("prj.create_extra_attr", "p5", "projects", "project",
		 {"name": P + "p5", "domain_id": "{dom1}", "foo": "bar"})
	S.create("prj.create_dup", "x", "projects", "project",
		 {"name": P + "p1", "domain_id": "{dom1}"})
	S.create("prj.create_same_name_other_domain", "p1b", "projects", "project",
		 {"name": P + "p1"})
	S.create("prj.create_bad_tag_slash", "x", "projects", "project",
		 {"name": P + "px", "tags": ["a/b"]})
	S.create("prj.create_bad_tag_comma", "x", "projects", "project",
		 {"name": P + "px", "tags": ["a,b"]})
	S.create("prj.create_too_many_tags", "x", "projects", "project",
		 {"name": P + "px", "tags": ["t%d" % i for i in range(81)]})
	S.create("prj.create_dup_tags", "x", "projects", "project",
		 {"name": P + "px", "tags": ["a", "a"]})
	S.create("prj.create_unknown_domain", "x", "projects", "project",
		 {"name": P + "px", "domain_id": "nonexistent0"})
	S.create("prj.create_unknown_parent", "x", "projects", "project",
		 {"name": P + "px", "parent_id": "nonexistent0"})
	S.create("prj.create_parent_other_domain", "x", "projects", "project",
		 {"name": P + "px", "parent_id": "{p1}", "domain_id": "default"})
	S.create("prj.create_no_name", "x", "projects", "project", {"domain_id": "default"})
	S.create("prj.create_name_long", "x", "projects", "project", {"name": "p" * 65})
	S.create("prj.create_is_domain_str", "x", "projects", "project",
		 {"name": P + "px", "is_domain": "true"})
	S.create("prj.create_tags_not_list", "x", "projects", "project",
		 {"name": P + "px", "tags": "t1"})
	S.create("prj.create_in_disabled_domain", "p6", "projects", "project",
		 {"name": P + "p6", "domain_id": "{dom2}"})
	S.req("prj.get", "GET", "/v3/projects/{p1}")
	S.req("prj.get_child", "GET", "/v3/projects/{p2}")
	S.req("prj.get_extra_attr", "GET", "/v3/projects/{p5}")
	S.req("prj.get_is_domain", "GET", "/v3/projects/{pd}")
	S.req("prj.get_domain_as_project", "GET", "/v3/projects/{dom1}")
	S.req("prj.get_parents_as_list", "GET", "/v3/projects/{p2}?parents_as_list")
	S.req("prj.get_parents_as_ids", "GET", "/v3/projects/{p2}?parents_as_ids")
	S.req("prj.get_subtree_as_list", "GET", "/v3/projects/{p1}?subtree_as_list")
	S.req("prj.get_subtree_as_ids", "GET", "/v3/projects/{p1}?subtree_as_ids")
	S.req("prj.get_unknown", "GET", "/v3/projects/nonexistent0")
	S.req("prj.list_name", "GET", "/v3/projects?name=" + P + "p1")
	S.req("prj.list_domain", "GET", "/v3/projects?domain_id={dom1}")
	S.req("prj.list_parent", "GET", "/v3/projects?parent_id={p1}")
	S.req("prj.list_tags", "GET", "/v3/projects?tags=t1,t2")
	S.req("prj.list_tags_any", "GET", "/v3/projects?tags-any=t1,zz")
	S.req("prj.list_not_tags", "GET", "/v3/projects?not-tags=t1&domain_id={dom1}")
	S.req("prj.list_not_tags_any", "GET", "/v3/projects?not-tags-any=t1,zz&domain_id={dom1}")
	S.req("prj.list_enabled_false", "GET", "/v3/projects?enabled=false&domain_id={dom1}")
	S.req("prj.list_is_domain_true", "GET", "/v3/projects?is_domain=true")
	S.req("prj.list_is_domain_false_dom1", "GET", "/v3/projects?is_domain=false&domain_id={dom1}")
	S.req("prj.list_unknown_domain", "GET", "/v3/projects?domain_id=nonexistent0")
	S.req("prj.list_name_and_domain", "GET", "/v3/projects?name=" + P + "p1&domain_id=default")
	S.req("prj.tags_get", "GET", "/v3/projects/{p1}/tags")
	S.req("prj.tags_put", "PUT", "/v3/projects/{p1}/tags", {"tags": ["t1", "t2", "t3"]})
	S.req("prj.tags_put_bad", "PUT", "/v3/projects/{p1}/tags", {"tags": ["a/b"]})
	S.req("prj.tags_put_not_list", "PUT", "/v3/projects/{p1}/tags", {"tags": "x"})
	S.req("prj.tag_put", "PUT", "/v3/projects/{p1}/tags/t4")
	S.req("prj.tag_put_existing", "PUT", "/v3/projects/{p1}/tags/t4")
	S.req("prj.tag_check", "GET", "/v3/projects/{p1}/tags/t4")
	S.req("prj.tag_head", "HEAD", "/v3/projects/{p1}/tags/t4")
	S.req("prj.tag_check_missing", "GET", "/v3/projects/{p1}/tags/zz")
	S.req("prj.tag_delete", "DELETE", "/v3/projects/{p1}/tags/t4")
	S.req("prj.tag_delete_missing", "DELETE", "/v3/projects/{p1}/tags/t4")
	S.req("prj.tags_get_after", "GET", "/v3/projects/{p1}/tags")
	S.req("prj.tags_unknown_project", "GET", "/v3/projects/nonexistent0/tags")
	S.req("prj.tags_delete_all", "DELETE", "/v3/projects/{p5}/tags")
	S.req("prj.update", "PATCH", "/v3/projects/{p1}",
	      {"project": {"description": "changed", "tags": ["t1", "t2", "t9"]}})
	S.req("prj.update_name", "PATCH", "/v3/projects/{p4}", {"project": {"name": P + "p4b"}})
	S.req("prj.update_enable", "PATCH", "/v3/projects/{p4}", {"project": {"enabled": True}})
	S.req("prj.update_name_dup", "PATCH", "/v3/projects/{p4}", {"project": {"name": P + "p1"}})
	S.req("prj.update_domain_id", "PATCH", "/v3/projects/{p4}",
	      {"project": {"domain_id": "default"}})
	S.req("prj.update_parent_id", "PATCH", "/v3/projects/{p4}",
	      {"project": {"parent_id": "{p1}"}})
	S.req("prj.update_is_domain", "PATCH", "/v3/projects/{p4}", {"project": {"is_domain": True}})
	S.req("prj.update_enabled_str", "PATCH", "/v3/projects/{p4}", {"project": {"enabled": "x"}})
	S.req("prj.update_unknown", "PATCH", "/v3/projects/nonexistent0",
	      {"project": {"description": "x"}})
	S.req("prj.delete_with_child", "DELETE", "/v3/projects/{p1}")
	S.req("prj.delete_unknown", "DELETE", "/v3/projects/nonexistent0")

	# -- users ------------------------------------------------------------------------------
	S.create("usr.create", "u1", "users", "user",
		 {"name": P + "u1", "password": "pw-one-1", "email": "u1@example.com",
		  "description": "user one", "default_project_id": "{p3}"})
	S.create("usr.create_other_domain_nopw", "u2", "users", "user",
		 {"name": P + "u2", "domain_id": "{dom1}"})
	S.create("usr.create_disabled", "u3", "users", "user",
		 {"name": P + "u3", "password": "pw-three", "enabled": False})
	S.create("usr.create_member", "u4", "users", "user",
		 {"name": P + "u4", "password": "pw-four"})
	S.create("usr.create_dup", "x", "users", "user", {"name": P + "u1"})
	S.create("usr.create_no_name", "x", "users", "user", {"password": "x"})
	S.create("usr.create_name_int", "x", "users", "user", {"name": 7})
	S.create("usr.create_name_long", "x", "users", "user", {"name": "u" * 256})
	S.create("usr.create_enabled_str", "x", "users", "user",
		 {"name": P + "ux", "enabled": "yes"})
	S.create("usr.create_password_int", "x", "users", "user",
		 {"name": P + "ux", "password": 12345})
	S.create("usr.create_password_null", "u5", "users", "user",
		 {"name": P + "u5", "password": None})
	S.create("usr.create_unknown_domain", "x", "users", "user",
		 {"name": P + "ux", "domain_id": "nonexistent0"})
	S.create("usr.create_unknown_default_project", "u6", "users", "user",
		 {"name": P + "u6", "default_project_id": "nonexistent0"})
	S.create("usr.create_options", "u7", "users", "user",
		 {"name": P + "u7", "options": {"ignore_password_expiry": True}})
	S.create("usr.create_bad_option", "x", "users", "user",
		 {"name": P + "ux", "options": {"no_such_option": True}})
	S.req("usr.get", "GET", "/v3/users/{u1}")
	S.req("usr.get_nopw", "GET", "/v3/users/{u2}")
	S.req("usr.get_options", "GET", "/v3/users/{u7}")
	S.req("usr.get_admin", "GET", "/v3/users/{u_admin}")
	S.req("usr.get_unknown", "GET", "/v3/users/nonexistent0")
	S.req("usr.list_name", "GET", "/v3/users?name=" + P + "u1")
	S.req("usr.list_domain", "GET", "/v3/users?domain_id={dom1}")
	S.req("usr.list_enabled_false", "GET", "/v3/users?enabled=false&name=" + P + "u3")
	S.req("usr.list_unknown_domain", "GET", "/v3/users?domain_id=nonexistent0")
	S.req("usr.list_name_like", "GET", "/v3/users?name__startswith=" + P + "u")
	S.req("usr.update", "PATCH", "/v3/users/{u1}",
	      {"user": {"email": "u1b@example.com", "description": "changed"}})
	S.req("usr.update_enable", "PATCH", "/v3/users/{u3}", {"user": {"enabled": True}})
	S.req("usr.update_name_dup", "PATCH", "/v3/users/{u3}", {"user": {"name": P + "u1"}})
	S.req("usr.update_enabled_str", "PATCH", "/v3/users/{u3}", {"user": {"enabled": "x"}})
	S.req("usr.update_domain", "PATCH", "/v3/users/{u3}", {"user": {"domain_id": "{dom1}"}})
	S.req("usr.update_unknown", "PATCH", "/v3/users/nonexistent0", {"user": {"email": "x"}})
	S.req("usr.update_admin_password", "PATCH", "/v3/users/{u4}",
	      {"user": {"password": "pw-four-b"}})
	S.req("usr.pwchange_wrong_original", "POST", "/v3/users/{u1}/password",
	      {"user": {"original_password": "nope", "password": "pw-one-2"}}, token=None)
	S.req("usr.pwchange_missing_original", "POST", "/v3/users/{u1}/password",
	      {"user": {"password": "pw-one-2"}}, token=None)
	S.req("usr.pwchange_unknown_user", "POST", "/v3/users/nonexistent0/password",
	      {"user": {"original_password": "x", "password": "y"}}, token=None)
	S.req("usr.pwchange_ok", "POST", "/v3/users/{u1}/password",
	      {"user": {"original_password": "pw-one-1", "password": "pw-one-2"}}, token=None)
	time.sleep(1.1)
	S.auth("usr.auth_old_password", pw(uid="{u1}", password="pw-one-1"), token=None)
	S.auth("usr.auth_disabled_user", pw(uid="{u3}", password="pw-three"), token=None)
	S.auth("usr.auth_no_password_user", pw(uid="{u2}", password="x"), token=None)
	S.auth("usr.auth_unscoped_new_password", pw(uid="{u1}", password="pw-one-2"), token=None)
	S.auth("usr.auth_default_project_no_role", pw(uid="{u1}", password="pw-one-2"),
	       {"project": {"id": "{p3}"}}, token=None)

	# -- groups ---------------------------------------------------------------------------
	S.create("grp.create", "g1", "groups", "group",
		 {"name": P + "g1", "description": "group one"})
	S.create("grp.create_other_domain", "g2", "groups", "group",
		 {"name": P + "g2", "domain_id": "{dom1}"})
	S.create("grp.create_dup", "x", "groups", "group", {"name": P + "g1"})
	S.create("grp.create_no_name", "x", "groups", "group", {"description": "x"})
	S.create("grp.create_unknown_domain", "x", "groups", "group",
		 {"name": P + "gx", "domain_id": "nonexistent0"})
	S.req("grp.get", "GET", "/v3/groups/{g1}")
	S.req("grp.get_unknown", "GET", "/v3/groups/nonexistent0")
	S.req("grp.list_name", "GET", "/v3/groups?name=" + P + "g1")
	S.req("grp.list_domain", "GET", "/v3/groups?domain_id={dom1}")
	S.req("grp.update", "PATCH", "/v3/groups/{g1}", {"group": {"description": "changed"}})
	S.req("grp.update_name_dup", "PATCH", "/v3/groups/{g1}", {"group": {"name": P + "g1"}})
	S.req("grp.update_unknown", "PATCH", "/v3/groups/nonexistent0", {"group": {"name": "x"}})
	S.req("grp.member_add", "PUT", "/v3/groups/{g1}/users/{u1}")
	S.req("grp.member_add_again", "PUT", "/v3/groups/{g1}/users/{u1}")
	S.req("grp.member_add_u4", "PUT", "/v3/groups/{g1}/users/{u4}")
	S.req("grp.member_add_other_domain", "PUT", "/v3/groups/{g1}/users/{u2}")
	S.req("grp.member_add_unknown_user", "PUT", "/v3/groups/{g1}/users/nonexistent0")
	S.req("grp.member_add_unknown_group", "PUT", "/v3/groups/nonexistent0/users/{u1}")
	S.req("grp.member_head", "HEAD", "/v3/groups/{g1}/users/{u1}")
	S.req("grp.member_get", "GET", "/v3/groups/{g1}/users/{u1}")
	S.req("grp.member_head_not_member", "HEAD", "/v3/groups/{g2}/users/{u1}")
	S.req("grp.users", "GET", "/v3/groups/{g1}/users")
	S.req("grp.users_unknown_group", "GET", "/v3/groups/nonexistent0/users")
	S.req("usr.groups", "GET", "/v3/users/{u1}/groups")
	S.req("usr.groups_unknown_user", "GET", "/v3/users/nonexistent0/groups")
	S.req("grp.member_remove", "DELETE", "/v3/groups/{g1}/users/{u2}")
	S.req("grp.member_remove_again", "DELETE", "/v3/groups/{g1}/users/{u2}")
	S.req("grp.list_by_member", "GET", "/v3/groups?name=" + P + "g1&domain_id=default")

	# -- roles & implied roles --------------------------------------------------------------
	S.create("role.create", "r1", "roles", "role", {"name": P + "r1", "description": "role one"})
	S.create("role.create_r2", "r2", "roles", "role", {"name": P + "r2"})
	S.create("role.create_domain_specific", "r3", "roles", "role",
		 {"name": P + "r3", "domain_id": "{dom1}"})
	S.create("role.create_options", "r4", "roles", "role",
		 {"name": P + "r4", "options": {"immutable": False}})
	S.create("role.create_dup", "x", "roles", "role", {"name": P + "r1"})
	S.create("role.create_dup_case", "x", "roles", "role", {"name": P.upper() + "R1"})
	S.create("role.create_no_name", "x", "roles", "role", {"description": "x"})
	S.create("role.create_name_long", "x", "roles", "role", {"name": "r" * 256})
	S.create("role.create_unknown_domain", "x", "roles", "role",
		 {"name": P + "rx", "domain_id": "nonexistent0"})
	S.req("role.get", "GET", "/v3/roles/{r1}")
	S.req("role.get_domain_specific", "GET", "/v3/roles/{r3}")
	S.req("role.get_admin", "GET", "/v3/roles/{r_admin}")
	S.req("role.get_unknown", "GET", "/v3/roles/nonexistent0")
	S.req("role.list", "GET", "/v3/roles")
	S.req("role.list_name", "GET", "/v3/roles?name=" + P + "r1")
	S.req("role.list_domain", "GET", "/v3/roles?domain_id={dom1}")
	S.req("role.update", "PATCH", "/v3/roles/{r1}", {"role": {"description": "changed"}})
	S.req("role.update_name_dup", "PATCH", "/v3/roles/{r2}", {"role": {"name": P + "r1"}})
	S.req("role.update_unknown", "PATCH", "/v3/roles/nonexistent0", {"role": {"name": "x"}})
	S.req("role.update_description_null", "PATCH", "/v3/roles/{r2}",
	      {"role": {"description": None}})
	# bootstrap roles are immutable in Keystone (options.immutable = true)
	S.req("role.update_bootstrap_reader", "PATCH", "/v3/roles/{r_reader}",
	      {"role": {"description": ""}})
	S.req("imp.put", "PUT", "/v3/roles/{r1}/implies/{r2}")
	S.req("imp.put_again", "PUT", "/v3/roles/{r1}/implies/{r2}")
	S.req("imp.put_r2_member", "PUT", "/v3/roles/{r2}/implies/{r_reader}")
	S.req("imp.get_missing", "GET", "/v3/roles/{r2}/implies/{r1}")
	S.req("imp.head_missing", "HEAD", "/v3/roles/{r2}/implies/{r1}")
	S.req("imp.put_cycle", "PUT", "/v3/roles/{r2}/implies/{r1}")
	S.req("imp.put_self", "PUT", "/v3/roles/{r1}/implies/{r1}")
	S.req("imp.put_unknown", "PUT", "/v3/roles/{r1}/implies/nonexistent0")
	S.req("imp.put_domain_specific_prior", "PUT", "/v3/roles/{r3}/implies/{r1}")
	S.req("imp.get", "GET", "/v3/roles/{r1}/implies/{r2}")
	S.req("imp.head", "HEAD", "/v3/roles/{r1}/implies/{r2}")
	S.req("imp.list", "GET", "/v3/roles/{r1}/implies")
	S.req("imp.list_none", "GET", "/v3/roles/{r4}/implies")
	S.req("imp.list_unknown", "GET", "/v3/roles/nonexistent0/implies")
	S.req("imp.role_inferences", "GET", "/v3/role_inferences")
	# keep r1 -> r2 -> reader only, so that effective assignments stay finite and comparable
	S.req("imp.delete_cycle", "DELETE", "/v3/roles/{r2}/implies/{r1}")
	S.req("imp.delete_self", "DELETE", "/v3/roles/{r1}/implies/{r1}")
	S.req("imp.delete_domain_prior", "DELETE", "/v3/roles/{r3}/implies/{r1}")
	S.req("imp.delete_missing", "DELETE", "/v3/roles/{r3}/implies/{r1}")
	S.req("imp.role_inferences_after", "GET", "/v3/role_inferences")

	# -- assignments ----------------------------------------------------------------------
	S.req("asg.project_user_put", "PUT", "/v3/projects/{p3}/users/{u1}/roles/{r_member}")
	S.req("asg.project_user_put_again", "PUT", "/v3/projects/{p3}/users/{u1}/roles/{r_member}")
	S.req("asg.project_user_head", "HEAD", "/v3/projects/{p3}/users/{u1}/roles/{r_member}")
	S.req("asg.project_user_get", "GET", "/v3/projects/{p3}/users/{u1}/roles/{r_member}")
	S.req("asg.project_user_check_missing", "HEAD", "/v3/projects/{p3}/users/{u1}/roles/{r1}")
	S.req("asg.project_user_list", "GET", "/v3/projects/{p3}/users/{u1}/roles")
	S.req("asg.project_u4_put", "PUT", "/v3/projects/{p3}/users/{u4}/roles/{r_member}")
	S.req("asg.project_group_put", "PUT", "/v3/projects/{p3}/groups/{g1}/roles/{r1}")
	S.req("asg.project_group_list", "GET", "/v3/projects/{p3}/groups/{g1}/roles")
	S.req("asg.project_group_head", "HEAD", "/v3/projects/{p3}/groups/{g1}/roles/{r1}")
	S.req("asg.domain_user_put", "PUT", "/v3/domains/{dom1}/users/{u1}/roles/{r_reader}")
	S.req("asg.domain_user_list", "GET", "/v3/domains/{dom1}/users/{u1}/roles")
	S.req("asg.domain_group_put", "PUT", "/v3/domains/{dom1}/groups/{g1}/roles/{r2}")
	S.req("asg.domain_group_list", "GET", "/v3/domains/{dom1}/groups/{g1}/roles")
	S.req("asg.system_user_put", "PUT", "/v3/system/users/{u1}/roles/{r_reader}")
	S.req("asg.system_user_head", "HEAD", "/v3/system/users/{u1}/roles/{r_reader}")
	S.req("asg.system_user_list", "GET", "/v3/system/users/{u1}/roles")
	S.req("asg.system_group_put", "PUT", "/v3/system/groups/{g1}/roles/{r1}")
	S.req("asg.system_group_list", "GET", "/v3/system/groups/{g1}/roles")
	S.req("asg.system_admin_list", "GET", "/v3/system/users/{u_admin}/roles")
	S.req("asg.inherit_domain_user_put", "PUT",
	      "/v3/OS-INHERIT/domains/{dom1}/users/{u1}/roles/{r2}/inherited_to_projects")
	S.req("asg.inherit_domain_user_head", "HEAD",
	      "/v3/OS-INHERIT/domains/{dom1}/users/{u1}/roles/{r2}/inherited_to_projects")
	S.req("asg.inherit_domain_user_list", "GET",
	      "/v3/OS-INHERIT/domains/{dom1}/users/{u1}/roles/inherited_to_projects")
	S.req("asg.inherit_project_group_put", "PUT",
	      "/v3/OS-INHERIT/projects/{p1}/groups/{g1}/roles/{r4}/inherited_to_projects")
	S.req("asg.inherit_project_group_list", "GET",
	      "/v3/OS-INHERIT/projects/{p1}/groups/{g1}/roles/inherited_to_projects")
	S.req("asg.domain_specific_role_put", "PUT", "/v3/projects/{p1}/users/{u2}/roles/{r3}")
	S.req("asg.domain_specific_role_wrong_domain", "PUT",
	      "/v3/projects/{p3}/users/{u1}/roles/{r3}")
	S.req("asg.put_unknown_role", "PUT", "/v3/projects/{p3}/users/{u1}/roles/nonexistent0")
	S.req("asg.put_unknown_user", "PUT", "/v3/projects/{p3}/users/nonexistent0/roles/{r1}")
	S.req("asg.put_unknown_project", "PUT", "/v3/projects/nonexistent0/users/{u1}/roles/{r1}")
	S.req("asg.put_unknown_group", "PUT", "/v3/projects/{p3}/groups/nonexistent0/roles/{r1}")
	S.req("asg.put_unknown_domain", "PUT", "/v3/domains/nonexistent0/users/{u1}/roles/{r1}")
	S.req("asg.system_put_unknown_role", "PUT", "/v3/system/users/{u1}/roles/nonexistent0")
	S.req("asg.delete_missing", "DELETE", "/v3/projects/{p3}/users/{u1}/roles/{r2}")
	ra = "/v3/role_assignments"
	S.req("ra.user", "GET", ra + "?user.id={u1}")
	S.req("ra.user_names", "GET", ra + "?user.id={u1}&include_names")
	S.req("ra.user_effective", "GET", ra + "?user.id={u1}&effective")
	S.req("ra.user_effective_names", "GET", ra + "?user.id={u1}&effective&include_names=true")
	S.req("ra.project", "GET", ra + "?scope.project.id={p3}")
	S.req("ra.project_effective", "GET", ra + "?scope.project.id={p3}&effective")
	S.req("ra.project_p2_effective", "GET", ra + "?scope.project.id={p2}&effective")
	S.req("ra.project_subtree", "GET", ra + "?scope.project.id={p1}&include_subtree=true")
	S.req("ra.domain", "GET", ra + "?scope.domain.id={dom1}")
	S.req("ra.system", "GET", ra + "?scope.system=all")
	S.req("ra.group", "GET", ra + "?group.id={g1}")
	S.req("ra.role", "GET", ra + "?role.id={r1}")
	S.req("ra.role_effective", "GET", ra + "?role.id={r2}&effective&user.id={u1}")
	S.req("ra.inherited", "GET", ra + "?scope.OS-INHERIT:inherited_to=projects&user.id={u1}")
	S.req("ra.admin_names", "GET", ra + "?user.id={u_admin}&include_names")
	S.req("ra.err_effective_group", "GET", ra + "?effective&group.id={g1}")
	S.req("ra.err_user_and_group", "GET", ra + "?user.id={u1}&group.id={g1}")
	S.req("ra.err_project_and_domain", "GET",
	      ra + "?scope.project.id={p3}&scope.domain.id={dom1}")
	S.req("ra.err_subtree_without_project", "GET", ra + "?include_subtree=true")
	S.req("ra.unknown_user", "GET", ra + "?user.id=nonexistent0")
	S.req("usr.projects", "GET", "/v3/users/{u1}/projects")
	S.req("usr.projects_unknown_user", "GET", "/v3/users/nonexistent0/projects")
	S.req("usr.projects_u4", "GET", "/v3/users/{u4}/projects")

	# -- the test user's own tokens -------------------------------------------------------
	u1 = pw(uid="{u1}", password="pw-one-2")
	S.auth("u1.auth_project", u1, {"project": {"id": "{p3}"}}, token=None, save="u1_p3")
	S.auth("u1.auth_project_inherited", u1, {"project": {"id": "{p1}"}}, token=None,
	       save="u1_p1")
	S.auth("u1.auth_domain", u1, {"domain": {"id": "{dom1}"}}, token=None, save="u1_dom")
	S.auth("u1.auth_domain_by_name", u1, {"domain": {"name": P + "dom1"}}, token=None)
	S.auth("u1.auth_system", u1, {"system": {"all": True}}, token=None, save="u1_sys")
	S.auth("u1.auth_unscoped", u1, token=None, save="u1_un")
	S.auth("u1.auth_project_no_role", u1, {"project": {"id": "{p_admin}"}}, token=None)
	S.auth("u1.auth_default_domain_no_role", u1, {"domain": {"id": "default"}}, token=None)
	S.req("u1.validate_project", "GET", "/v3/auth/tokens", subject="u1_p3")
	S.req("u1.validate_inherited", "GET", "/v3/auth/tokens?nocatalog", subject="u1_p1")
	S.req("u1.validate_domain", "GET", "/v3/auth/tokens", subject="u1_dom")
	S.req("u1.validate_system", "GET", "/v3/auth/tokens?nocatalog", subject="u1_sys")
	S.req("u1.validate_unscoped", "GET", "/v3/auth/tokens", subject="u1_un")
	S.req("u1.auth_projects", "GET", "/v3/auth/projects", token="u1_un")
	S.req("u1.auth_domains", "GET", "/v3/auth/domains", token="u1_un")
	S.req("u1.auth_system", "GET", "/v3/auth/system", token="u1_un")
	S.req("u1.auth_catalog", "GET", "/v3/auth/catalog", token="u1_p3")
	S.auth("u4.auth_project", pw(uid="{u4}", password="pw-four-b"), {"project": {"id": "{p3}"}},
	       token=None, save="u4")

	# -- non-admin access (u4: member on p3 only) -----------------------------------------
	S.req("na.validate_own", "GET", "/v3/auth/tokens", token="u4", subject="u4")
	S.req("na.validate_other", "GET", "/v3/auth/tokens", token="u4", subject="admin")
	S.req("na.list_users", "GET", "/v3/users", token="u4")
	S.req("na.get_self", "GET", "/v3/users/{u4}", token="u4")
	S.req("na.get_other_user", "GET", "/v3/users/{u_admin}", token="u4")
	S.req("na.update_self", "PATCH", "/v3/users/{u4}", {"user": {"description": "x"}},
	      token="u4")
	S.req("na.self_projects", "GET", "/v3/users/{u4}/projects", token="u4")
	S.req("na.other_projects", "GET", "/v3/users/{u1}/projects", token="u4")
	S.req("na.self_groups", "GET", "/v3/users/{u4}/groups", token="u4")
	S.req("na.list_projects", "GET", "/v3/projects", token="u4")
	S.req("na.get_own_project", "GET", "/v3/projects/{p3}", token="u4")
	S.req("na.get_other_project", "GET", "/v3/projects/{p_admin}", token="u4")
	S.req("na.list_domains", "GET", "/v3/domains", token="u4")
	S.req("na.get_own_domain", "GET", "/v3/domains/default", token="u4")
	S.req("na.create_domain", "POST", "/v3/domains", {"domain": {"name": P + "nadom"}},
	      token="u4")
	S.req("na.create_project", "POST", "/v3/projects", {"project": {"name": P + "naprj"}},
	      token="u4")
	S.req("na.list_roles", "GET", "/v3/roles", token="u4")
	S.req("na.list_groups", "GET", "/v3/groups", token="u4")
	S.req("na.list_services", "GET", "/v3/services", token="u4")
	S.req("na.list_endpoints", "GET", "/v3/endpoints", token="u4")
	S.req("na.list_regions", "GET", "/v3/regions", token="u4")
	S.req("na.role_assignments", "GET", ra, token="u4")
	S.req("na.role_assignments_self", "GET", ra + "?user.id={u4}", token="u4")
	S.req("na.grant", "PUT", "/v3/projects/{p3}/users/{u4}/roles/{r_admin}", token="u4")
	S.req("na.auth_catalog", "GET", "/v3/auth/catalog", token="u4")
	S.req("na.auth_projects", "GET", "/v3/auth/projects", token="u4")
	S.req("na.role_inferences", "GET", "/v3/role_inferences", token="u4")
	S.req("na.revoke_own", "DELETE", "/v3/auth/tokens", token="u4", subject="u4")
	S.req("na.after_revoke_own", "GET", "/v3/users/{u4}", token="u4")

	# -- services, regions, endpoints -------------------------------------------------------
	S.create("svc.create", "s1", "services", "service",
		 {"type": P + "type", "name": P + "svc", "description": "svc one"})
	S.create("svc.create_no_name", "s2", "services", "service", {"type": P + "type2"})
	S.create("svc.create_disabled", "s3", "services", "service",
		 {"type": P + "type3", "enabled": False, "extra": "x"})
	S.create("svc.create_no_type", "x", "services", "service", {"name": P + "svcx"})
	S.create("svc.create_type_int", "x", "services", "service", {"type": 5})
	S.create("svc.create_enabled_str", "x", "services", "service",
		 {"type": P + "t", "enabled": "yes"})
	S.req("svc.get", "GET", "/v3/services/{s1}")
	S.req("svc.get_no_name", "GET", "/v3/services/{s2}")
	S.req("svc.get_unknown", "GET", "/v3/services/nonexistent0")
	S.req("svc.list", "GET", "/v3/services")
	S.req("svc.list_type", "GET", "/v3/services?type=" + P + "type")
	S.req("svc.list_name", "GET", "/v3/services?name=" + P + "svc")
	S.req("svc.update", "PATCH", "/v3/services/{s1}", {"service": {"description": "changed"}})
	S.req("svc.update_type_int", "PATCH", "/v3/services/{s1}", {"service": {"type": 5}})
	S.req("svc.update_unknown", "PATCH", "/v3/services/nonexistent0",
	      {"service": {"name": "x"}})
	S.req("reg.create", "POST", "/v3/regions",
	      {"region": {"id": P + "reg1", "description": "region one"}})
	S.reg("reg1", P + "reg1")
	S.req("reg.create_child", "POST", "/v3/regions",
	      {"region": {"id": P + "reg2", "parent_region_id": P + "reg1"}})
	S.reg("reg2", P + "reg2")
	r, js = S.req("reg.create_auto_id", "POST", "/v3/regions", {"region": {"description": "cmp-auto"}})
	if js and isinstance(js.get("region"), dict):
		S.reg("reg_auto", js["region"].get("id"))
	S.req("reg.put", "PUT", "/v3/regions/" + P + "reg3", {"region": {"description": "three"}})
	S.reg("reg3", P + "reg3")
	S.req("reg.put_existing", "PUT", "/v3/regions/" + P + "reg3", {"region": {}})
	S.req("reg.put_id_mismatch", "PUT", "/v3/regions/" + P + "reg4",
	      {"region": {"id": P + "other"}})
	S.req("reg.create_dup", "POST", "/v3/regions", {"region": {"id": P + "reg1"}})
	S.req("reg.create_unknown_parent", "POST", "/v3/regions",
	      {"region": {"id": P + "regx", "parent_region_id": "nonexistent0"}})
	S.req("reg.create_description_int", "POST", "/v3/regions",
	      {"region": {"id": P + "regy", "description": 5}})
	S.req("reg.get", "GET", "/v3/regions/{reg1}")
	S.req("reg.get_child", "GET", "/v3/regions/{reg2}")
	S.req("reg.get_unknown", "GET", "/v3/regions/nonexistent0")
	S.req("reg.list", "GET", "/v3/regions")
	S.req("reg.list_parent", "GET", "/v3/regions?parent_region_id={reg1}")
	S.req("reg.update", "PATCH", "/v3/regions/{reg1}", {"region": {"description": "changed"}})
	S.req("reg.update_parent_cycle", "PATCH", "/v3/regions/{reg1}",
	      {"region": {"parent_region_id": P + "reg2"}})
	S.req("reg.update_unknown", "PATCH", "/v3/regions/nonexistent0",
	      {"region": {"description": "cmp-auto"}})
	S.create("ep.create", "e1", "endpoints", "endpoint",
		 {"service_id": "{s1}", "interface": "public", "url": "http://example.com/e1",
		  "region_id": P + "reg1"})
	S.create("ep.create_no_region", "e2", "endpoints", "endpoint",
		 {"service_id": "{s1}", "interface": "internal", "url": "http://example.com/e2"})
	S.create("ep.create_legacy_region", "e3", "endpoints", "endpoint",
		 {"service_id": "{s1}", "interface": "admin", "url": "http://example.com/e3",
		  "region": P + "reg2", "enabled": False})
	S.create("ep.create_bad_interface", "x", "endpoints", "endpoint",
		 {"service_id": "{s1}", "interface": "private", "url": "http://example.com/x"})
	S.create("ep.create_no_url", "x", "endpoints", "endpoint",
		 {"service_id": "{s1}", "interface": "public"})
	S.create("ep.create_bad_url", "x", "endpoints", "endpoint",
		 {"service_id": "{s1}", "interface": "public", "url": "not a url"})
	S.create("ep.create_unknown_service", "x", "endpoints", "endpoint",
		 {"service_id": "nonexistent0", "interface": "public", "url": "http://x.example/"})
	S.create("ep.create_unknown_region", "x", "endpoints", "endpoint",
		 {"service_id": "{s1}", "interface": "public", "url": "http://x.example/",
		  "region_id": "nonexistent0"})
	S.create("ep.create_no_service", "x", "endpoints", "endpoint",
		 {"interface": "public", "url": "http://x.example/"})
	S.req("ep.get", "GET", "/v3/endpoints/{e1}")
	S.req("ep.get_no_region", "GET", "/v3/endpoints/{e2}")
	S.req("ep.get_legacy_region", "GET", "/v3/endpoints/{e3}")
	S.req("ep.get_unknown", "GET", "/v3/endpoints/nonexistent0")
	S.req("ep.list", "GET", "/v3/endpoints")
	S.req("ep.list_interface", "GET", "/v3/endpoints?interface=public")
	S.req("ep.list_service", "GET", "/v3/endpoints?service_id={s1}")
	S.req("ep.list_region", "GET", "/v3/endpoints?region_id={reg1}")
	S.req("ep.list_bad_interface", "GET", "/v3/endpoints?interface=private")
	S.req("ep.update", "PATCH", "/v3/endpoints/{e1}", {"endpoint": {"url": "http://e.x/new"}})
	S.req("ep.update_bad_interface", "PATCH", "/v3/endpoints/{e1}",
	      {"endpoint": {"interface": "bad"}})
	S.req("ep.update_unknown_region", "PATCH", "/v3/endpoints/{e1}",
	      {"endpoint": {"region_id": "nonexistent0"}})
	S.req("ep.update_unknown", "PATCH", "/v3/endpoints/nonexistent0",
	      {"endpoint": {"url": "http://x/"}})
	S.req("cat.auth_catalog_after_endpoints", "GET", "/v3/auth/catalog")
	S.req("reg.delete_with_child", "DELETE", "/v3/regions/{reg1}")
	S.req("reg.delete_with_endpoint", "DELETE", "/v3/regions/{reg2}")

	# -- other Keystone v3 APIs: present or not ---------------------------------------------
	for label, path in (
		("api.credentials", "/v3/credentials"),
		("api.policies", "/v3/policies"),
		("api.application_credentials", "/v3/users/{u_admin}/application_credentials"),
		("api.access_rules", "/v3/users/{u_admin}/access_rules"),
		("api.ec2_credentials", "/v3/users/{u_admin}/credentials/OS-EC2"),
		("api.trusts", "/v3/OS-TRUST/trusts"),
		("api.limits", "/v3/limits"),
		("api.registered_limits", "/v3/registered_limits"),
		("api.limits_model", "/v3/limits/model"),
		("api.revoke_events", "/v3/OS-REVOKE/events"),
		("api.identity_providers", "/v3/OS-FEDERATION/identity_providers"),
		("api.mappings", "/v3/OS-FEDERATION/mappings"),
		("api.service_providers", "/v3/OS-FEDERATION/service_providers"),
		("api.oauth1_consumers", "/v3/OS-OAUTH1/consumers"),
		("api.endpoint_groups", "/v3/OS-EP-FILTER/endpoint_groups"),
		("api.project_endpoints", "/v3/OS-EP-FILTER/projects/{p_admin}/endpoints"),
		("api.domain_config_default", "/v3/domains/config/default"),
		("api.domain_config", "/v3/domains/default/config"),
		("api.pki_revoked", "/v3/auth/tokens/OS-PKI/revoked"),
		("api.simple_cert", "/v3/OS-SIMPLE-CERT/ca"),
		("api.federation_projects", "/v3/auth/OS-FEDERATION/projects"),
		("api.system_groups_roles", "/v3/system/groups/{g1}/roles"),
	):
		S.req(label, "GET", path)
	S.req("api.json_home_root", "GET", "/", token=None,
	      headers={"Accept": "application/json-home"})
	S.req("api.json_home_v3", "GET", "/v3", token=None,
	      headers={"Accept": "application/json-home"})
	S.req("api.ec2tokens_empty", "POST", "/v3/ec2tokens", {}, token=None)
	S.req("api.s3tokens_empty", "POST", "/v3/s3tokens", {}, token=None)
	r, js = S.req("api.app_cred_create", "POST", "/v3/users/{u_admin}/application_credentials",
		      {"application_credential": {"name": P + "ac"}})
	if js and isinstance(js.get("application_credential"), dict):
		S.reg("ac", js["application_credential"].get("id"))
	S.req("api.app_cred_delete", "DELETE",
	      "/v3/users/{u_admin}/application_credentials/{ac}")
	newer_apis(S, P)

	# -- generic errors -------------------------------------------------------------------
	S.req("err.bad_json", "POST", "/v3/domains", raw="{\"domain\": {",
	      headers={"Content-Type": "application/json"})
	S.req("err.empty_body", "POST", "/v3/projects", raw="",
	      headers={"Content-Type": "application/json"})
	S.req("err.array_body", "POST", "/v3/domains", [])
	S.req("err.null_body", "POST", "/v3/domains", raw="null",
	      headers={"Content-Type": "application/json"})
	S.req("err.text_plain", "POST", "/v3/domains", raw=json.dumps(
		{"domain": {"name": P + "ctype"}}), headers={"Content-Type": "text/plain"})
	S.req("err.no_content_type", "POST", "/v3/domains", raw=json.dumps(
		{"domain": {"name": P + "ctype2"}}))
	S.req("err.form_content_type", "POST", "/v3/domains", raw="name=x",
	      headers={"Content-Type": "application/x-www-form-urlencoded"})
	S.req("err.json_charset", "POST", "/v3/domains", raw=json.dumps(
		{"domain": {"name": P + "ctype3"}}),
	      headers={"Content-Type": "application/json; charset=UTF-8"})
	big = json.dumps({"domain": {"name": P + "big", "description": "a" * (10 << 20)}})
	S.req("err.body_10mib", "POST", "/v3/domains", raw=big,
	      headers={"Content-Type": "application/json"})
	mid = json.dumps({"domain": {"name": P + "mid", "description": "a" * (200 << 10)}})
	S.req("err.body_200kib", "POST", "/v3/domains", raw=mid,
	      headers={"Content-Type": "application/json"})
	S.req("err.unknown_path", "GET", "/v3/nonexistent")
	S.req("err.unknown_path_no_token", "GET", "/v3/nonexistent", token=None)
	S.req("err.unknown_root_path", "GET", "/foo", token=None)
	S.req("err.method_not_allowed", "PUT", "/v3/domains", {"domain": {}})
	S.req("err.method_not_allowed_item", "POST", "/v3/domains/{dom1}", {"domain": {}})
	S.req("err.no_token", "GET", "/v3/users", token=None)
	S.req("err.bad_token", "GET", "/v3/users", token="garbage")
	S.req("err.trailing_slash", "GET", "/v3/domains/")
	S.req("err.double_slash", "GET", "/v3//domains")
	S.req("err.query_bad_bool", "GET", "/v3/domains?enabled=maybe")
	S.req("err.unicode_name", "POST", "/v3/domains",
	      {"domain": {"name": P + "d\u00e9j\u00e0", "description": "\u2603"}})
	r, js = S.req("setup", "GET", "/v3/domains?name=" + P + "d\u00e9j\u00e0", record=False)

	# -- clean-up (recorded too: delete codes) ----------------------------------------------
	S.req("del.implied", "DELETE", "/v3/roles/{r1}/implies/{r2}")
	S.req("del.implied_again", "DELETE", "/v3/roles/{r1}/implies/{r2}")
	S.req("del.implied2", "DELETE", "/v3/roles/{r2}/implies/{r_reader}")
	S.req("del.role_inferences_after", "GET", "/v3/role_inferences")
	S.req("del.grant_project_user", "DELETE", "/v3/projects/{p3}/users/{u1}/roles/{r_member}")
	S.req("del.grant_project_group", "DELETE", "/v3/projects/{p3}/groups/{g1}/roles/{r1}")
	S.req("del.grant_domain_user", "DELETE", "/v3/domains/{dom1}/users/{u1}/roles/{r_reader}")
	S.req("del.grant_system_user", "DELETE", "/v3/system/users/{u1}/roles/{r_reader}")
	S.req("del.grant_system_user_again", "DELETE", "/v3/system/users/{u1}/roles/{r_reader}")
	S.req("del.grant_system_group", "DELETE", "/v3/system/groups/{g1}/roles/{r1}")
	S.req("del.grant_inherited", "DELETE",
	      "/v3/OS-INHERIT/domains/{dom1}/users/{u1}/roles/{r2}/inherited_to_projects")
	S.req("del.ra_after", "GET", ra + "?user.id={u1}")
	S.req("del.member", "DELETE", "/v3/groups/{g1}/users/{u1}")
	S.req("del.role_in_use", "DELETE", "/v3/roles/{r2}")
	S.req("del.role_get_after", "GET", "/v3/roles/{r2}")
	S.req("del.ra_role_after", "GET", ra + "?role.id={r2}")
	S.req("del.user", "DELETE", "/v3/users/{u1}")
	S.req("del.user_get_after", "GET", "/v3/users/{u1}")
	S.req("del.user_again", "DELETE", "/v3/users/{u1}")
	S.req("del.group", "DELETE", "/v3/groups/{g1}")
	S.req("del.group_again", "DELETE", "/v3/groups/{g1}")
	S.req("del.role", "DELETE", "/v3/roles/{r1}")
	S.req("del.role_again", "DELETE", "/v3/roles/{r1}")
	S.req("del.project_child", "DELETE", "/v3/projects/{p2}")
	S.req("del.project_parent", "DELETE", "/v3/projects/{p1}")
	S.req("del.project_again", "DELETE", "/v3/projects/{p1}")
	S.req("del.endpoint", "DELETE", "/v3/endpoints/{e1}")
	S.req("del.endpoint_again", "DELETE", "/v3/endpoints/{e1}")
	S.req("del.service_with_endpoints", "DELETE", "/v3/services/{s1}")
	S.req("del.endpoint_of_deleted_service", "GET", "/v3/endpoints/{e2}")
	S.req("del.service_again", "DELETE", "/v3/services/{s1}")
	S.req("del.region_child", "DELETE", "/v3/regions/{reg2}")
	S.req("del.region", "DELETE", "/v3/regions/{reg1}")
	S.req("del.region_again", "DELETE", "/v3/regions/{reg1}")
	S.req("del.domain_with_content_disabled", "PATCH", "/v3/domains/{dom1}",
	      {"domain": {"enabled": False}})
	S.req("del.domain_with_content", "DELETE", "/v3/domains/{dom1}")
	S.req("del.domain_content_gone", "GET", "/v3/users/{u2}")
	S.req("del.domain_project_gone", "GET", "/v3/projects/{p4}")
	S.req("del.domain_role_gone", "GET", "/v3/roles/{r3}")
	S.req("del.domain_role_delete", "DELETE", "/v3/roles/{r3}")
	S.req("setup", "DELETE", "/v3/roles/{role.create_unknown_domain}", record=False)
	S.req("del.project_is_domain_disable", "PATCH", "/v3/projects/{pd}",
	      {"project": {"enabled": False}})
	S.req("del.project_is_domain", "DELETE", "/v3/projects/{pd}")
	S.req("del.domain_get_after_project_delete", "GET", "/v3/domains/{pd}")
	sweep(S)


# ---------------------------------------------------------------------------------------
# Setup helpers (not recorded)
# ---------------------------------------------------------------------------------------

def newer_apis(S, P):
	"""Application credentials (with their authentication), credentials and EC2
	credentials, policies, OAuth1 consumers, endpoint groups, domain configuration, limits
	and the strict body types; each part cleans up after itself."""
	# application credential: create, authenticate by id and by name, the delegated token
	r, js = S.req("ac.create", "POST", "/v3/users/{u_admin}/application_credentials",
		      {"application_credential": {"name": P + "ac2", "roles": [{"name": "reader"}],
						  "expires_at": "2099-01-01T00:00:00"}})
	secret = None
	if js and isinstance(js.get("application_credential"), dict):
		S.reg("ac2", js["application_credential"].get("id"))
		secret = js["application_credential"].get("secret")
	S.req("ac.get", "GET", "/v3/users/{u_admin}/application_credentials/{ac2}")
	S.req("ac.list_name", "GET", "/v3/users/{u_admin}/application_credentials?name=" + P + "ac2")
	S.req("ac.dup", "POST", "/v3/users/{u_admin}/application_credentials",
	      {"application_credential": {"name": P + "ac2"}})
	S.req("ac.unassigned_role", "POST", "/v3/users/{u_admin}/application_credentials",
	      {"application_credential": {"name": P + "ac3", "roles": [{"id": "nonexistent0"}]}})
	S.req("ac.past_expiry", "POST", "/v3/users/{u_admin}/application_credentials",
	      {"application_credential": {"name": P + "ac4", "expires_at": "2001-01-01T00:00:00"}})
	S.req("ac.bad_unrestricted", "POST", "/v3/users/{u_admin}/application_credentials",
	      {"application_credential": {"name": P + "ac5", "unrestricted": "yes"}})
	acid = {"methods": ["application_credential"],
		"application_credential": {"id": "{ac2}", "secret": secret or "x"}}
	S.auth("ac.auth_id", acid, token=None, save="ac_tok")
	S.auth("ac.auth_name", {"methods": ["application_credential"], "application_credential": {
		"name": P + "ac2", "user": {"id": "{u_admin}"}, "secret": secret or "x"}}, token=None)
	S.auth("ac.auth_bad_secret", {"methods": ["application_credential"],
				      "application_credential": {"id": "{ac2}", "secret": "no"}},
	       token=None)
	S.auth("ac.auth_with_scope", acid, scope={"project": {"id": "{p_admin}"}}, token=None)
	S.req("ac.validate", "GET", "/v3/auth/tokens", subject="ac_tok")
	S.auth("ac.rescope", {"methods": ["token"], "token": {"id": S.tokens.get("ac_tok", "x")}},
	       token=None)
	S.req("ac.token_creates_ac", "POST", "/v3/users/{u_admin}/application_credentials",
	      {"application_credential": {"name": P + "ac6"}}, token="ac_tok")
	S.req("ac.token_lists_credentials", "GET", "/v3/credentials", token="ac_tok")
	S.req("ac.delete", "DELETE", "/v3/users/{u_admin}/application_credentials/{ac2}")
	S.req("ac.validate_after_delete", "GET", "/v3/auth/tokens", subject="ac_tok")

	# credentials and EC2 credentials
	blob = json.dumps({"access": P + "access", "secret": P + "secret"})
	r, js = S.req("cred.create_ec2", "POST", "/v3/credentials", {"credential": {
		"user_id": "{u_admin}", "project_id": "{p_admin}", "type": "ec2", "blob": blob}})
	if js and isinstance(js.get("credential"), dict):
		S.reg("cred1", js["credential"].get("id"))
	S.req("cred.create_ec2_no_project", "POST", "/v3/credentials", {"credential": {
		"user_id": "{u_admin}", "type": "ec2", "blob": blob}})
	S.req("cred.create_ec2_bad_blob", "POST", "/v3/credentials", {"credential": {
		"user_id": "{u_admin}", "project_id": "{p_admin}", "type": "ec2", "blob": "x"}})
	S.req("cred.get", "GET", "/v3/credentials/{cred1}")
	S.req("cred.list_type", "GET", "/v3/credentials?type=ec2&user_id={u_admin}")
	S.req("cred.update", "PATCH", "/v3/credentials/{cred1}", {"credential": {"blob": json.dumps(
		{"access": P + "access", "secret": P + "new"})}})
	S.req("cred.delete", "DELETE", "/v3/credentials/{cred1}")
	S.req("cred.get_deleted", "GET", "/v3/credentials/{cred1}")
	r, js = S.req("ec2.create", "POST", "/v3/users/{u_admin}/credentials/OS-EC2",
		      {"tenant_id": "{p_admin}"})
	access = (js or {}).get("credential", {}).get("access") if js else None
	S.req("ec2.create_bad_project", "POST", "/v3/users/{u_admin}/credentials/OS-EC2",
	      {"tenant_id": "nonexistent0"})
	if access:
		S.req("ec2.get", "GET", "/v3/users/{u_admin}/credentials/OS-EC2/" + access)
		S.req("ec2.delete", "DELETE", "/v3/users/{u_admin}/credentials/OS-EC2/" + access)
		S.req("ec2.get_deleted", "GET", "/v3/users/{u_admin}/credentials/OS-EC2/" + access)

	# policies and consumers
	r, js = S.req("pol.create", "POST", "/v3/policies",
		      {"policy": {"blob": "{}", "type": P + "type"}})
	if js and isinstance(js.get("policy"), dict):
		S.reg("pol1", js["policy"].get("id"))
	S.req("pol.update", "PATCH", "/v3/policies/{pol1}", {"policy": {"type": P + "type2"}})
	S.req("pol.get", "GET", "/v3/policies/{pol1}")
	S.req("pol.delete", "DELETE", "/v3/policies/{pol1}")
	r, js = S.req("oauth.create", "POST", "/v3/OS-OAUTH1/consumers",
		      {"consumer": {"description": P + "consumer"}})
	if js and isinstance(js.get("consumer"), dict):
		S.reg("cons1", js["consumer"].get("id"))
	S.req("oauth.get", "GET", "/v3/OS-OAUTH1/consumers/{cons1}")
	S.req("oauth.update", "PATCH", "/v3/OS-OAUTH1/consumers/{cons1}",
	      {"consumer": {"description": P + "c2"}})
	S.req("oauth.delete", "DELETE", "/v3/OS-OAUTH1/consumers/{cons1}")

	# endpoint groups
	r, js = S.req("epg.create", "POST", "/v3/OS-EP-FILTER/endpoint_groups", {"endpoint_group": {
		"name": P + "epg", "filters": {"interface": "public"}}})
	if js and isinstance(js.get("endpoint_group"), dict):
		S.reg("epg1", js["endpoint_group"].get("id"))
	S.req("epg.bad_filter", "POST", "/v3/OS-EP-FILTER/endpoint_groups", {"endpoint_group": {
		"name": P + "epg2", "filters": {"colour": "red"}}})
	S.req("epg.get", "GET", "/v3/OS-EP-FILTER/endpoint_groups/{epg1}")
	S.req("epg.endpoints", "GET", "/v3/OS-EP-FILTER/endpoint_groups/{epg1}/endpoints")
	S.req("epg.add_project", "PUT", "/v3/OS-EP-FILTER/endpoint_groups/{epg1}/projects/{p_admin}")
	S.req("epg.get_project", "GET",
	      "/v3/OS-EP-FILTER/endpoint_groups/{epg1}/projects/{p_admin}")
	S.req("epg.project_endpoints", "GET", "/v3/OS-EP-FILTER/projects/{p_admin}/endpoints")
	S.req("epg.catalog", "GET", "/v3/auth/catalog")
	S.req("epg.remove_project", "DELETE",
	      "/v3/OS-EP-FILTER/endpoint_groups/{epg1}/projects/{p_admin}")
	S.req("epg.delete", "DELETE", "/v3/OS-EP-FILTER/endpoint_groups/{epg1}")

	# domain configuration
	r, js = S.req("dcfg.domain", "POST", "/v3/domains", {"domain": {"name": P + "dcfg"}})
	if js and isinstance(js.get("domain"), dict):
		S.reg("dcfg", js["domain"].get("id"))
	cfg = {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x", "password": "pw"}}
	S.req("dcfg.create", "PUT", "/v3/domains/{dcfg}/config", {"config": cfg})
	S.req("dcfg.create_again", "PUT", "/v3/domains/{dcfg}/config", {"config": cfg})
	S.req("dcfg.get_option", "GET", "/v3/domains/{dcfg}/config/ldap/url")
	S.req("dcfg.get_sensitive", "GET", "/v3/domains/{dcfg}/config/ldap/password")
	S.req("dcfg.bad_group", "PUT", "/v3/domains/{dcfg}/config", {"config": {"x": {"y": 1}}})
	S.req("dcfg.update_group", "PATCH", "/v3/domains/{dcfg}/config/ldap",
	      {"config": {"ldap": {"url": "ldap://y"}}})
	S.req("dcfg.delete_option", "DELETE", "/v3/domains/{dcfg}/config/identity/driver")
	S.req("dcfg.delete", "DELETE", "/v3/domains/{dcfg}/config")
	S.req("dcfg.security_compliance", "GET", "/v3/domains/default/config/security_compliance")
	S.req("setup", "PATCH", "/v3/domains/{dcfg}", {"domain": {"enabled": False}}, record=False)
	S.req("setup", "DELETE", "/v3/domains/{dcfg}", record=False)

	# registered limits and limits
	r, js = S.req("lim.service", "POST", "/v3/services", {"service": {"type": P + "lim"}})
	if js and isinstance(js.get("service"), dict):
		S.reg("lim_svc", js["service"].get("id"))
	r, js = S.req("lim.reg_create", "POST", "/v3/registered_limits", {"registered_limits": [
		{"service_id": "{lim_svc}", "resource_name": "cores", "default_limit": 10}]})
	if js and js.get("registered_limits"):
		S.reg("reg_lim", js["registered_limits"][0].get("id"))
	S.req("lim.reg_dup", "POST", "/v3/registered_limits", {"registered_limits": [
		{"service_id": "{lim_svc}", "resource_name": "cores", "default_limit": 1}]})
	r, js = S.req("lim.create", "POST", "/v3/limits", {"limits": [
		{"project_id": "{p_admin}", "service_id": "{lim_svc}", "resource_name": "cores",
		 "resource_limit": 5}]})
	if js and js.get("limits"):
		S.reg("lim1", js["limits"][0].get("id"))
	S.req("lim.no_registered", "POST", "/v3/limits", {"limits": [
		{"project_id": "{p_admin}", "service_id": "{lim_svc}", "resource_name": "ram",
		 "resource_limit": 5}]})
	S.req("lim.list", "GET", "/v3/limits?service_id={lim_svc}")
	S.req("lim.update", "PATCH", "/v3/limits/{lim1}", {"limit": {"resource_limit": 6}})
	S.req("lim.reg_update_in_use", "PATCH", "/v3/registered_limits/{reg_lim}",
	      {"registered_limit": {"default_limit": 3}})
	S.req("lim.delete", "DELETE", "/v3/limits/{lim1}")
	S.req("lim.reg_delete", "DELETE", "/v3/registered_limits/{reg_lim}")
	S.req("setup", "DELETE", "/v3/services/{lim_svc}", record=False)

	# strict body types (Keystone's JSON schemas)
	for label, coll, ent, body in (
		("strict.domain_enabled_str", "domains", "domain", {"name": P + "s1", "enabled": "yes"}),
		("strict.project_is_domain_str", "projects", "project",
		 {"name": P + "s2", "is_domain": "true"}),
		("strict.user_enabled_str", "users", "user", {"name": P + "s3", "enabled": "no"}),
		("strict.user_unknown_option", "users", "user",
		 {"name": P + "s4", "options": {"no_such_option": True}}),
		("strict.role_null_description", "roles", "role",
		 {"name": P + "s5", "description": None}),
		("strict.group_domain_int", "groups", "group", {"name": P + "s6", "domain_id": 5}),
	):
		S.create(label, "x", coll, ent, body)


def setup_symbols(S):
	"""Register the bootstrap resources under fixed symbols on this side."""
	S.reg("dom_default", "default")
	for coll, ent, pre in (("users", "user", "u_"), ("projects", "project", "p_"),
			       ("roles", "role", "r_"), ("services", "service", "svc_"),
			       ("regions", "region", "reg_"), ("endpoints", "endpoint", "ep_")):
		r, js = S.req("setup", "GET", "/v3/" + coll, record=False)
		for e in (js or {}).get(coll, []):
			if coll == "endpoints":	# per service: Kumo registers several
				key = "%s_%s" % (S.ids.get(e.get("service_id"), "svc"),
						 e.get("interface"))
			elif coll == "regions":
				key = e.get("id")
			else:
				key = e.get("name")
			if key and not str(key).startswith("cmp"):
				S.reg(pre + str(key), e.get("id"))


def sweep(S):
	"""Delete everything named cmp* (left-overs of earlier runs); never recorded."""
	def gone(coll, ent, cond, extra=None):
		r, js = S.req("setup", "GET", "/v3/" + coll, record=False)
		for e in (js or {}).get(coll.rsplit("/", 1)[-1], []):
			if cond(e):
				if extra:
					extra(e)
				S.req("setup", "DELETE", "/v3/%s/%s" % (coll, e["id"]), record=False)
	cmp = lambda key: (lambda e: str(e.get(key) or "").lower().startswith("cmp"))
	gone("users", "user", cmp("name"))
	if "u_admin" in S.sym:
		gone("users/%s/application_credentials" % S.sym["u_admin"],
		     "application_credential", cmp("name"))
	gone("groups", "group", cmp("name"))
	gone("policies", "policy", cmp("type"))
	gone("OS-OAUTH1/consumers", "consumer", cmp("description"))
	gone("OS-EP-FILTER/endpoint_groups", "endpoint_group", cmp("name"))
	gone("credentials", "credential", lambda e: "cmp" in str(e.get("blob", "")))
	r, js = S.req("setup", "GET", "/v3/role_inferences", record=False)
	for inf in (js or {}).get("role_inferences", []):
		for imp in inf.get("implies", []):
			if str(inf["prior_role"].get("name", "")).lower().startswith("cmp") or \
			   str(imp.get("name", "")).lower().startswith("cmp"):
				S.req("setup", "DELETE", "/v3/roles/%s/implies/%s" %
				      (inf["prior_role"]["id"], imp["id"]), record=False)
	gone("roles", "role", cmp("name"))
	r, js = S.req("setup", "GET", "/v3/domains", record=False)
	for d in [{"id": "nonexistent0"}] + (js or {}).get("domains", []):
		r, js2 = S.req("setup", "GET", "/v3/roles?domain_id=" + d["id"], record=False)
		for e in (js2 or {}).get("roles", []):
			if cmp("name")(e):
				S.req("setup", "DELETE", "/v3/roles/" + e["id"], record=False)
	for _ in range(3):	# leaves first
		gone("projects", "project",
		     lambda e: cmp("name")(e) and not e.get("is_domain"))
	gone("services", "service", lambda e: cmp("name")(e) or cmp("type")(e))
	for _ in range(3):
		gone("regions", "region", lambda e: cmp("id")(e) or cmp("description")(e))

	def disable(e):
		S.req("setup", "PATCH", "/v3/domains/" + e["id"],
		      {"domain": {"enabled": False}}, record=False)
	gone("domains", "domain", cmp("name"), disable)


# ---------------------------------------------------------------------------------------
# Normalisation and comparison
# ---------------------------------------------------------------------------------------

HEXID = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f-]{36}$")


def norm(S, v, key=""):
	if isinstance(v, dict):
		return {("<%s>" % S.ids[k] if k in S.ids else k): norm(S, x, k)
			for k, x in v.items()}
	if isinstance(v, list):
		return [norm(S, x, key) for x in v]
	if isinstance(v, str):
		if v in S.ids:
			return "<%s>" % S.ids[v]
		if key in TIME_KEYS:	# the format matters to clients: keep its shape
			return "<time %s>" % re.sub(r"\d", "9", v)
		if key == "audit_ids":
			return "<audit len=%d>" % len(v)
		if key in ("secret", "access"):	# generated credentials: only their length
			return "<secret len=%d>" % len(v)
		if v.startswith("http://") or v.startswith("https://"):
			return "<url>"
		if key == "id" and re.match(r"^v\d", v):
			return v
		if key == "id" or key.endswith("_id") or HEXID.match(v):
			return "<id?>"
	return v


def jtype(v):
	if v is None:
		return "null"
	if isinstance(v, bool):
		return "bool"
	if isinstance(v, (int, float)):
		return "number"
	if isinstance(v, str):
		return "string"
	if isinstance(v, list):
		return "array"
	return "object"


def elem_key(e):
	if isinstance(e, dict):
		i = e.get("id")
		if isinstance(i, str) and i.startswith("<") and i != "<id?>":
			return "id=" + i
		if isinstance(e.get("name"), str):
			dom = e.get("domain_id")
			if not dom and isinstance(e.get("domain"), dict):
				dom = e["domain"].get("id")
			return "name=%s%s" % (e["name"], "@" + dom if dom else "")
		if "interface" in e:
			return "interface=%s" % e["interface"]
		if "rel" in e:
			return "rel=%s" % e["rel"]
		if "prior_role" in e:
			return "prior=%s" % json.dumps(e["prior_role"].get("id"))
	return json.dumps(e, sort_keys=True)


def diff(a, b, path, out):
	"""a = reference, b = kumo (both normalised).  Appends (path, kind, ref, kumo)."""
	ta, tb = jtype(a), jtype(b)
	if ta != tb:
		out.append((path, "type", short(a), short(b)))
		return
	if ta == "object":
		for k in a:
			if k not in b:
				out.append((path + "." + k, "missing-key", short(a[k]), None))
		for k in b:
			if k not in a:
				out.append((path + "." + k, "extra-key", None, short(b[k])))
		for k in a:
			if k in b:
				diff(a[k], b[k], path + "." + k, out)
		return
	if ta == "array":
		if all(isinstance(x, dict) for x in a + b) and (a or b):
			ka = {}
			for x in a:
				ka.setdefault(elem_key(x), []).append(x)
			kb = {}
			for x in b:
				kb.setdefault(elem_key(x), []).append(x)
			for k in ka:
				if k not in kb:
					out.append((path + "[" + k + "]", "missing-element",
						    short(ka[k][0]), None))
			for k in kb:
				if k not in ka:
					out.append((path + "[" + k + "]", "extra-element",
						    None, short(kb[k][0])))
			for k in ka:
				if k in kb:
					if len(ka[k]) != len(kb[k]):
						out.append((path + "[" + k + "]", "count",
							    len(ka[k]), len(kb[k])))
					diff(ka[k][0], kb[k][0], path + "[" + k + "]", out)
			return
		sa = sorted(json.dumps(x, sort_keys=True) for x in a)
		sb = sorted(json.dumps(x, sort_keys=True) for x in b)
		if sa != sb:
			out.append((path, "value", short(a), short(b)))
		return
	if a != b:
		kind = "message" if path.endswith(".message") else "value"
		out.append((path, kind, short(a), short(b)))


def short(v, n=160):
	s = json.dumps(v, sort_keys=True)
	return s if len(s) <= n else s[:n] + "..."


def norm_ctype(v):
	return (v or "").split(";")[0].strip().lower()


def compare(ref, kumo):
	kr = dict(ref.records)
	km = dict(kumo.records)
	results = []
	for label, a in ref.records:
		b = km.get(label)
		d = []
		if b is None:
			results.append((label, a, None, [("", "not-run", None, None)]))
			continue
		if a["status"] != b["status"]:
			d.append(("status", "status", a["status"], b["status"]))
		ha, hb = a["headers"], b["headers"]
		for h in HEADERS_PRESENCE:
			if (h in ha) != (h in hb):
				d.append(("header " + h, "header-presence",
					  ha.get(h, "(absent)")[:80], hb.get(h, "(absent)")[:80]))
			elif h in ha and h in HEADERS_VALUE:
				va, vb = ha[h], hb[h]
				if h == "content-type":
					va, vb = norm_ctype(va), norm_ctype(vb)
				elif h == "www-authenticate":
					va = re.sub(r"https?://[^\"]*", "<url>", va)
					vb = re.sub(r"https?://[^\"]*", "<url>", vb)
				if va.lower() != vb.lower():
					d.append(("header " + h, "header-value", va, vb))
		ba, bb = norm(ref, a["body"]), norm(kumo, b["body"])
		if (a["body"] is None) != (b["body"] is None):
			d.append(("body", "body-json", short(ba) if ba is not None else a["text"],
				  short(bb) if bb is not None else b["text"]))
		elif a["body"] is not None:
			diff(ba, bb, "body", d)
		results.append((label, a, b, d))
	for label in km:
		if label not in kr:
			results.append((label, None, km[label], [("", "only-kumo", None, None)]))
	return results


SEVERITY = {"status": 1, "not-run": 1, "body-json": 1, "missing-key": 2, "type": 2,
	    "missing-element": 2, "header-presence": 2, "count": 2, "missing-keys": 2, "extra-element": 3,
	    "value": 3, "extra-key": 3, "header-value": 3, "only-kumo": 3, "message": 9}


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--ref", default="http://127.0.0.1:15000")
	ap.add_argument("--kumo", default="http://127.0.0.1:25100")
	ap.add_argument("--password", default="secret")
	ap.add_argument("--kumo-password", default=None)
	ap.add_argument("--json", help="write every record and difference to this file")
	ap.add_argument("--only", help="report only labels starting with this prefix")
	ap.add_argument("--minor", action="store_true", help="also list message differences")
	args = ap.parse_args()

	prefix = "cmp%s-" % "".join(random.choice(string.ascii_lowercase) for _ in range(4))
	ref = Side("keystone", args.ref, args.password)
	kumo = Side("kumo", args.kumo, args.kumo_password or args.password)
	for S in (ref, kumo):
		t0 = time.time()
		try:
			scenario(S, prefix)
		except Exception as e:	# report how far it got
			print("scenario aborted on %s: %r" % (S.name, e), file=sys.stderr)
			if not S.records:
				return 2
		print("%s: %d requests in %.1fs" % (S.name, len(S.records), time.time() - t0),
		      file=sys.stderr)
	results = compare(ref, kumo)
	worst = 9
	ndiff = 0
	for label, a, b, d in results:
		if args.only and not label.startswith(args.only):
			continue
		shown = [x for x in d if args.minor or SEVERITY.get(x[1], 3) < 9]
		if not shown:
			continue
		ndiff += 1
		worst = min(worst, min(SEVERITY.get(x[1], 3) for x in d))
		rec = a or b
		print("== %s  %s %s  (keystone %s, kumo %s)" %
		      (label, rec["method"], rec["path"], a and a["status"], b and b["status"]))
		groups = {}
		for x in shown:
			if x[1] in ("missing-key", "extra-key"):
				groups.setdefault((x[1], x[0].rsplit(".", 1)[0]), []).append(x)
		for (kind, parent), xs in groups.items():
			if len(xs) > 8:
				for x in xs:
					shown.remove(x)
				shown.append((parent, kind + "s", len(xs),
					      ", ".join(x[0].rsplit(".", 1)[1] for x in xs)[:1500]))
		for path, kind, va, vb in sorted(shown, key=lambda x: SEVERITY.get(x[1], 3)):
			print("   [%s] %s: keystone=%s kumo=%s" % (kind, path, va, vb))
	same = sum(1 for _, _, _, d in results if not d)
	print("\n%d requests compared, %d identical (after normalisation), %d with differences"
	      % (len(results), same, ndiff))
	if args.json:
		with open(args.json, "w") as f:
			json.dump([{"label": l, "keystone": a, "kumo": b, "diffs": d}
				   for l, a, b, d in results], f, indent=1, default=str)
	return 1 if worst < 9 else 0


if __name__ == "__main__":
	sys.exit(main())
