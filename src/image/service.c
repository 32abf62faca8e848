/*
 * service.c - the Image service as a kservice: its route table, Glance's
 * error dialect, version discovery, and its lifecycle.
 *
 * Errors.  Glance raises webob exceptions and lets webob render them, so the
 * body depends on the client's Accept header: text/html when HTML is
 * acceptable at least as much as JSON (python-glanceclient and curl send
 * "*" "/" "*"), application/json when JSON is preferred (openstacksdk asks
 * for it), text/plain without an Accept header.  The three renderings below
 * are webob 1.8's, byte for byte: "<status>\n\n<explanation>..." for text,
 * {"message": ..., "code": "404 Not Found", "title": "Not Found"} for JSON,
 * and the small HTML page whose lines glanceclient joins into "404 Not Found:
 * No image found with ID ...".  A 401 also carries keystonemiddleware's
 * WWW-Authenticate header.
 *
 * Version discovery is Glance's VersionNegotiationFilter: "/versions"
 * answers 200, any path whose first segment is not a known API version
 * answers 300 with the list of versions (both without a token), and a known
 * version prefix with an unknown rest is a plain 404 (after authentication).
 * The list is the one Glance gives without an image cache and with a single
 * store.
 *
 * Routes come from three tables (the version documents here, api.c, data.c)
 * joined once at start-up.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "image/image.h"

#define IMG_MAX_ROUTES 128
static kroute img_routes[IMG_MAX_ROUTES];

/* ---- the error dialect (webob.exc) ---- */

static const struct {
	int status;
	const char *title, *explanation;
} webob_errors[] = {
	{ 400, "Bad Request", "The server could not comply with the request since it is either "
	  "malformed or otherwise incorrect." },
	{ 401, "Unauthorized", "This server could not verify that you are authorized to access "
	  "the document you requested. Either you supplied the wrong credentials (e.g., bad "
	  "password), or your browser does not understand how to supply the credentials "
	  "required." },
	{ 403, "Forbidden", "Access was denied to this resource." },
	{ 404, "Not Found", "The resource could not be found." },
	{ 405, "Method Not Allowed", NULL },
	{ 409, "Conflict", "There was a conflict when trying to complete your request." },
	{ 410, "Gone", "This resource is no longer available. No forwarding address is given." },
	{ 411, "Length Required", "Content-Length header required." },
	{ 412, "Precondition Failed", "Request precondition failed." },
	{ 413, "Request Entity Too Large", "The body of your request was too large for this "
	  "server." },
	{ 414, "Request-URI Too Long", "The request URI was too long for this server." },
	{ 415, "Unsupported Media Type", NULL },
	{ 416, "Request Range Not Satisfiable", "The Range requested is not available." },
	{ 417, "Expectation Failed", "Expectation failed." },
	{ 500, "Internal Server Error", "The server has either erred or is incapable of "
	  "performing the requested operation." },
	{ 501, "Not Implemented", NULL },
	{ 502, "Bad Gateway", "Bad gateway." },
	{ 503, "Service Unavailable", "The server is currently unavailable. Please try again at "
	  "a later time." },
	{ 504, "Gateway Timeout", "The gateway has timed out." },
};

enum rendering { R_PLAIN, R_HTML, R_JSON };

/* q of the most specific range of the Accept header matching type/sub. */
static double accept_q(const char *accept, const char *type, const char *sub)
{
	double best_q = 0;
	int best_spec = -1;
	const char *p = accept;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[256];
		if (len >= sizeof(item))
			len = sizeof(item) - 1;
		memcpy(item, p, len);
		item[len] = '\0';
		p = end ? end + 1 : p + strlen(p);

		char *params = strchr(item, ';');
		double q = 1.0;
		if (params) {
			*params++ = '\0';
			char *save = NULL;
			for (char *tok = strtok_r(params, ";", &save); tok;
			     tok = strtok_r(NULL, ";", &save)) {
				while (*tok == ' ' || *tok == '\t')
					tok++;
				if ((tok[0] == 'q' || tok[0] == 'Q') && tok[1] == '=')
					q = strtod(tok + 2, NULL);
			}
		}
		char *mt = item;
		while (*mt == ' ' || *mt == '\t')
			mt++;
		size_t ml = strlen(mt);
		while (ml && (mt[ml - 1] == ' ' || mt[ml - 1] == '\t'))
			mt[--ml] = '\0';
		char *slash = strchr(mt, '/');
		if (!slash)
			continue;
		*slash = '\0';
		const char *rt = mt, *rs = slash + 1;
		int spec;
		if (!strcmp(rt, "*") && !strcmp(rs, "*"))
			spec = 0;
		else if (!strcasecmp(rt, type) && !strcmp(rs, "*"))
			spec = 1;
		else if (!strcasecmp(rt, type) && !strcasecmp(rs, sub))
			spec = 2;
		else
			continue;
		if (spec > best_spec) {
			best_spec = spec;
			best_q = q;
		}
	}
	return best_spec < 0 ? 0 : best_q;
}

static enum rendering negotiate(kreq *r)
{
	const char *accept = kreq_header(r, "Accept");
	if (!accept)
		return R_PLAIN;
	double html = accept_q(accept, "text", "html");
	double json = accept_q(accept, "application", "json");
	if (html <= 0 && json <= 0)
		return R_PLAIN;
	return json > html ? R_JSON : R_HTML;
}

static void sb_html_escape(kpool *pool, char **out, const char *s)
{
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += strchr("&<>\"'", *p) ? 6 : 1;
	char *e = kpool_alloc(pool, n + 1), *q = e;
	for (const char *p = s; *p; p++) {
		const char *rep = NULL;
		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#x27;"; break;
		}
		if (rep) {
			memcpy(q, rep, strlen(rep));
			q += strlen(rep);
		} else {
			*q++ = *p;
		}
	}
	*q = '\0';
	*out = e;
}

/* webob's strip_tags: newlines to spaces, <br> to newlines, tags away. */
static char *strip_tags(kpool *pool, const char *s)
{
	char *out = kpool_alloc(pool, strlen(s) + 1), *q = out;
	for (const char *p = s; *p; p++) {
		if (*p == '\n') {
			*q++ = ' ';
		} else if (*p == '\r') {
			continue;
		} else if (*p == '<') {
			const char *gt = strchr(p, '>');
			if (!gt) {
				*q++ = *p;
				continue;
			}
			if (!strncasecmp(p, "<br", 3))
				*q++ = '\n';
			p = gt;
		} else {
			*q++ = *p;
		}
	}
	*q = '\0';
	return out;
}

/* keystonemiddleware's www_authenticate_uri: configured, else this cloud's
 * identity endpoint. */
static const char *auth_uri(kreq *r)
{
	const char *u = kconf_get(kumo_conf, "keystone_authtoken", "www_authenticate_uri", NULL);
	if (u && *u)
		return u;
	return kpool_printf(r->pool, "http://%s:%ld",
	                    kconf_get(kumo_conf, "DEFAULT", "bind_host", "127.0.0.1"),
	                    kconf_get_int(kumo_conf, "identity", "port", 5000));
}

void img_error_detail(kreq *r, int status, const char *explanation, const char *detail)
{
	const char *title = khttp_reason(status), *def = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(webob_errors); i++)
		if (webob_errors[i].status == status) {
			title = webob_errors[i].title;
			def = webob_errors[i].explanation;
		}
	if (!explanation || !*explanation)
		explanation = def ? def : title;
	if (!detail)
		detail = "";
	enum rendering how = negotiate(r);
	const char *method = r->method ? r->method : "";
	const char *ctype = kreq_header(r, "Content-Type");
	if (!ctype)
		ctype = "";
	if (how == R_HTML) {
		sb_html_escape(r->pool, (char **)&explanation, explanation);
		sb_html_escape(r->pool, (char **)&detail, detail);
		sb_html_escape(r->pool, (char **)&method, method);
		sb_html_escape(r->pool, (char **)&ctype, ctype);
	}
	const char *body;
	if (status == 405)
		body = kpool_printf(r->pool, "The method %s is not allowed for this resource. "
		                    "<br /><br />\n%s", method, detail);
	else if (status == 415)
		body = kpool_printf(r->pool, "The request media type %s is not supported by this "
		                    "server.\n<br /><br />\n%s", ctype, detail);
	else if (status == 501)
		body = kpool_printf(r->pool, "\nThe request method %s is not implemented for this "
		                    "server. <br /><br />\n%s", method, detail);
	else
		body = kpool_printf(r->pool, "%s<br /><br />\n%s\n\n", explanation, detail);

	const char *line = kpool_printf(r->pool, "%d %s", status, title);
	if (status == 401)
		kresp_header(r, "WWW-Authenticate", kpool_printf(r->pool, "Keystone uri=\"%s\"",
		                                                   auth_uri(r)));
	if (how == R_JSON) {
		_cleanup_json_ json_t *m = json_string(body);
		if (!m)
			m = json_string("");
		char *ms = json_dumps(m, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
		const char *out = kpool_printf(r->pool, "{\"message\": %s, \"code\": \"%s\", "
		                               "\"title\": \"%s\"}", ms ? ms : "\"\"", line, title);
		free(ms);
		kresp_raw(r, status, "application/json", out, strlen(out));
	} else if (how == R_HTML) {
		const char *out = kpool_printf(r->pool, "<html>\n <head>\n  <title>%s</title>\n"
		                               " </head>\n <body>\n  <h1>%s</h1>\n  %s\n </body>\n"
		                               "</html>", line, line, body);
		kresp_raw(r, status, "text/html; charset=UTF-8", out, strlen(out));
	} else {
		const char *out = kpool_printf(r->pool, "%s\n\n%s", line,
		                               strip_tags(r->pool, body));
		kresp_raw(r, status, "text/plain; charset=UTF-8", out, strlen(out));
	}
}

void img_error_body(kreq *r, int status, const char *message)
{
	/* the server's own 401 is keystonemiddleware's + Glance's context
	 * middleware: webob's standard explanation */
	if (status == 401)
		message = NULL;
	img_error_detail(r, status, message, NULL);
}

/* ---- version discovery ---- */

static const struct { const char *id, *status; } versions[] = {
	{ "v2.15", "SUPPORTED" }, { "v2.9", "SUPPORTED" }, { "v2.17", "CURRENT" },
	{ "v2.7", "SUPPORTED" }, { "v2.6", "SUPPORTED" }, { "v2.5", "SUPPORTED" },
	{ "v2.4", "SUPPORTED" }, { "v2.3", "SUPPORTED" }, { "v2.2", "SUPPORTED" },
	{ "v2.1", "SUPPORTED" }, { "v2.0", "SUPPORTED" },
};

static bool version_alias(const char *seg, size_t n)
{
	if (n == 2 && !strncmp(seg, "v2", 2))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++)
		if (strlen(versions[i].id) == n && !strncmp(seg, versions[i].id, n))
			return true;
	return false;
}

static void answer_versions(kreq *r, int status)
{
	const char *href = kpool_printf(r->pool, "%s/v2/", kreq_base_url(r));
	json_t *list = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++)
		json_array_append_new(list, json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "id",
		                                      versions[i].id, "status", versions[i].status,
		                                      "links", "rel", "self", "href", href));
	kresp_json(r, status, json_pack("{s:o}", "versions", list));
}

static void get_versions(kreq *r)
{
	answer_versions(r, 300);
}

static void get_versions_explicit(kreq *r)
{
	answer_versions(r, 200);
}

/* The methods the API routes accept for this path ("GET, POST"), or NULL. */
static const char *allowed_for(kreq *r)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	const kroute *tables[] = { img_api_routes, img_data_routes };
	size_t sizes[] = { img_api_nroutes, img_data_nroutes };
	char *out = NULL;
	for (size_t m = 0; m < ARRAY_SIZE(methods); m++) {
		bool found = false;
		for (size_t t = 0; t < 2 && !found; t++) {
			const char *params[KREQ_MAX_PARAMS];
			int np;
			found = khttp_match(tables[t], sizes[t], methods[m], r->path, r->pool,
			                    params, &np, NULL) != NULL;
		}
		if (found)
			out = out ? kpool_printf(r->pool, "%s, %s", out, methods[m]) :
			            kpool_strdup(r->pool, methods[m]);
	}
	return out;
}

/* Every path no API route takes: versions unless it starts with a version. */
static void catch_all(kreq *r)
{
	const char *p = r->path;
	while (*p == '/')
		p++;
	size_t n = strcspn(p, "/");
	if (n == 8 && !strncmp(p, "versions", 8)) {
		answer_versions(r, 200);
		return;
	}
	if (!version_alias(p, n)) {
		answer_versions(r, 300);
		return;
	}
	const char *token = kreq_header(r, "X-Auth-Token");
	kctx *ctx = NULL;
	if (!token || !*token || kauth_validate(r->pool, token, &ctx) != 0 || !ctx) {
		kresp_error(r, 401, "%s", "");
		return;
	}
	r->ctx = ctx;
	size_t len = strlen(r->path);
	const char *allow = len > 1 && r->path[len - 1] == '/' ? NULL : allowed_for(r);
	if (allow) {
		kresp_header(r, "Allow", allow);
		kresp_error(r, 405, "%s", "");
		return;
	}
	kresp_error(r, 404, "%s", "");
}

#define CATCH(m) \
	{ m, "/{a}", catch_all, KROUTE_PUBLIC }, \
	{ m, "/{a}/{b}", catch_all, KROUTE_PUBLIC }, \
	{ m, "/{a}/{b}/{c}", catch_all, KROUTE_PUBLIC }, \
	{ m, "/{a}/{b}/{c}/{d}", catch_all, KROUTE_PUBLIC }, \
	{ m, "/{a}/{b}/{c}/{d}/{e}", catch_all, KROUTE_PUBLIC }, \
	{ m, "/{a}/{b}/{c}/{d}/{e}/{f}", catch_all, KROUTE_PUBLIC }

static const kroute version_routes[] = {
	{ "GET", "/", get_versions, KROUTE_PUBLIC },
	{ "GET", "/versions", get_versions_explicit, KROUTE_PUBLIC },
	CATCH("GET"), CATCH("POST"), CATCH("PUT"), CATCH("PATCH"), CATCH("DELETE"),
};

/* ---- lifecycle ---- */

static int open_db(void)
{
	if (!img_db)
		img_db = kservice_db_open("image");
	return img_db ? 0 : -1;
}

static int image_init(void)
{
	if (open_db() != 0)
		return -1;
	if (kdb_schema_version(img_db, "image") == 0) {
		klog_error("image", "the database has no schema: run `kumo manage db-sync` first");
		return -1;
	}
	if (img_policy_init() != 0)
		return -1;
	if (imgstore_init() != 0) {
		klog_error("image", "the image store cannot be used");
		return -1;
	}
	if (img_recover() != 0)
		return -1;
	int n = imgstore_cleanup_partials();
	if (n > 0)
		klog_info("image", "removed %d partial upload file(s)", n);
	return 0;
}

static int image_db_sync(void)
{
	return open_db() == 0 ? img_db_sync() : -1;
}

static void image_fini(void)
{
	img_policy_fini();
	kdb_close(img_db);
	img_db = NULL;
}

kservice image_service = {
	.name = "image",
	.catalog_type = "image",
	.catalog_name = "glance",
	.catalog_description = "OpenStack Image",
	.endpoint_path = "",
	.routes = img_routes,
	.error_body = img_error_body,
	.max_body = 1 << 20,
	.default_port = 9292,
	.init = image_init,
	.db_sync = image_db_sync,
	.fini = image_fini,
};

__attribute__((constructor)) static void join_routes(void)
{
	size_t n = 0;
	const struct { const kroute *r; size_t n; } tables[] = {
		{ version_routes, ARRAY_SIZE(version_routes) },
		{ img_api_routes, img_api_nroutes },
		{ img_data_routes, img_data_nroutes },
	};
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (size_t i = 0; i < tables[t].n && n < IMG_MAX_ROUTES; i++)
			img_routes[n++] = tables[t].r[i];
	image_service.nroutes = n;
}
