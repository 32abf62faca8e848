/*
 * common.c - the machinery every Network API resource shares: list queries
 * (filters, fields, sorting, pagination), standard attributes and tags,
 * visibility, request bodies and attribute validation, quota checks and
 * change notifications.  The contract is common.h.
 *
 * Lists are computed in memory: a handler loads the rows the caller may see
 * (narrowing its SQL with the filters it knows, if it likes), renders them
 * into API objects, and net_respond_list() does the rest exactly as
 * Neutron's API layer does it, on the rendered objects.  That way every
 * attribute filters, sorts and pages the same way, computed ones (fixed_ips,
 * tags, router:external) included, and the rules live in one place.  Lists
 * are a few thousand objects at most here, so the cost is small next to the
 * SQL.
 *
 * Pagination follows Neutron's native pagination: the sort keys with "id"
 * appended give a total order; the marker names an object (looked up among
 * all visible objects, so it need not match the filters) and the page is the
 * `limit` objects strictly after it (before it with page_reverse, returned
 * in forward order).  The "<collection>_links" use Neutron's rules: "next"
 * unless a forward page came back short, "previous" unless a reverse page
 * came back short, with the request's other query arguments kept.
 *
 * Validation reproduces neutron-lib's attribute map checks and their
 * messages (verify_attributes, fill_post_defaults, convert_values), because
 * clients and Tempest match on them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "core/auth.h"
#include "core/bus.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "common.h"

/* ------------------------------------------------------------------------ */
/* Query parsing */

typedef struct qarg {
	const char *key, *value;
} qarg;

typedef struct qcollect {
	kpool *pool;
	qarg *args;
	size_t n, cap;
} qcollect;

static int collect_arg(void *ud, const char *key, const char *value)
{
	qcollect *c = ud;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		qarg *na = kpool_alloc(c->pool, ncap * sizeof(*na));
		if (c->n)
			memcpy(na, c->args, c->n * sizeof(*na));
		c->args = na;
		c->cap = ncap;
	}
	c->args[c->n].key = kpool_strdup(c->pool, key);
	c->args[c->n].value = kpool_strdup(c->pool, value ? value : "");
	c->n++;
	return 0;
}

/* The raw query arguments of a request, kept with the listq for links. */
typedef struct net_listq_priv {
	net_listq q;
	qarg *args;
	size_t nargs;
	kreq *r;
} net_listq_priv;

/* Python's repr() of a list of strings: ['a', 'b'] */
static const char *py_list(kpool *pool, const char **v, size_t n)
{
	char *s = kpool_strdup(pool, "[");
	for (size_t i = 0; i < n; i++)
		s = kpool_printf(pool, "%s%s'%s'", s, i ? ", " : "", v[i]);
	return kpool_printf(pool, "%s]", s);
}

net_listq *net_listq_parse(kreq *r, const char *const *sortable)
{
	qcollect c = { .pool = r->pool };
	kreq_query_each(r, collect_arg, &c);
	net_listq_priv *p = kpool_alloc(r->pool, sizeof(*p));
	net_listq *q = &p->q;
	p->args = c.args;
	p->nargs = c.n;
	p->r = r;

	q->filters = kpool_alloc(r->pool, (c.n + 1) * sizeof(*q->filters));
	q->fields = kpool_alloc(r->pool, (c.n + 1) * sizeof(*q->fields));
	const char **dirs = kpool_alloc(r->pool, (c.n + 1) * sizeof(*dirs));
	size_t ndirs = 0;
	q->sort_keys = kpool_alloc(r->pool, (c.n + 1) * sizeof(*q->sort_keys));
	q->sort_desc = kpool_alloc(r->pool, (c.n + 1) * sizeof(*q->sort_desc));

	for (size_t i = 0; i < c.n; i++) {
		const char *k = c.args[i].key, *v = c.args[i].value;
		if (strcmp(k, "fields") == 0) {
			if (*v)
				q->fields[q->nfields++] = v;
		} else if (strcmp(k, "sort_key") == 0) {
			if (*v)
				q->sort_keys[q->nsorts++] = v;
		} else if (strcmp(k, "sort_dir") == 0) {
			if (*v)
				dirs[ndirs++] = v;
		} else if (strcmp(k, "limit") == 0) {
			char *end;
			errno = 0;
			long long l = strtoll(v, &end, 10);
			if (!*v || *end || errno || l < 0) {
				net_error(r, 400, "BadRequest",
				          "Bad limit request: Limit must be an "
				          "integer 0 or greater and not '%s'.",
				          v);
				return NULL;
			}
			q->limit = l;
		} else if (strcmp(k, "marker") == 0) {
			if (*v)
				q->marker = v;
		} else if (strcmp(k, "page_reverse") == 0) {
			q->page_reverse = strcasecmp(v, "true") == 0;
		} else if (*v) {
			net_filter *f = NULL;
			for (size_t j = 0; j < q->nfilters; j++)
				if (strcmp(q->filters[j].key, k) == 0)
					f = &q->filters[j];
			if (!f) {
				f = &q->filters[q->nfilters++];
				f->key = k;
				f->values = kpool_alloc(r->pool, (c.n + 1) * sizeof(*f->values));
			}
			f->values[f->nvalues++] = v;
		}
	}
	if (q->nsorts != ndirs) {
		net_error(r, 400, NULL, "The number of sort_keys and sort_dirs must be same");
		return NULL;
	}
	if (sortable) {
		const char **bad = kpool_alloc(r->pool, (q->nsorts + 1) * sizeof(*bad));
		size_t nbad = 0;
		for (size_t i = 0; i < q->nsorts; i++) {
			bool ok = false;
			for (const char *const *s = sortable; *s && !ok; s++)
				ok = strcmp(*s, q->sort_keys[i]) == 0;
			if (!ok)
				bad[nbad++] = q->sort_keys[i];
		}
		if (nbad) {
			net_error(r, 400, NULL, "%s is invalid attribute for sort_keys",
			          py_list(r->pool, bad, nbad));
			return NULL;
		}
	}
	const char **baddirs = kpool_alloc(r->pool, (ndirs + 1) * sizeof(*baddirs));
	size_t nbaddirs = 0;
	for (size_t i = 0; i < ndirs; i++) {
		if (strcmp(dirs[i], "asc") == 0)
			q->sort_desc[i] = false;
		else if (strcmp(dirs[i], "desc") == 0)
			q->sort_desc[i] = true;
		else
			baddirs[nbaddirs++] = dirs[i];
	}
	if (nbaddirs) {
		net_error(r, 400, NULL, "%s is invalid value for sort_dirs, valid value is 'asc' "
		          "and 'desc'", py_list(r->pool, baddirs, nbaddirs));
		return NULL;
	}
	return q;
}

const net_filter *net_listq_get(const net_listq *q, const char *key)
{
	for (size_t i = 0; q && i < q->nfilters; i++)
		if (strcmp(q->filters[i].key, key) == 0)
			return &q->filters[i];
	return NULL;
}

const net_filter *net_listq_take(net_listq *q, const char *key)
{
	for (size_t i = 0; q && i < q->nfilters; i++)
		if (strcmp(q->filters[i].key, key) == 0) {
			q->filters[i].used = true;
			return &q->filters[i];
		}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Filtering */

bool net_to_bool(const json_t *v, bool *out)
{
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return true;
	}
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
		*out = json_integer_value(v) == 1;
		return true;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool str_to_bool(const char *s, bool *out)
{
	_cleanup_json_ json_t *j = json_string(s);
	return j && net_to_bool(j, out);
}

/* One scalar attribute value against one filter value. */
static bool scalar_matches(const json_t *v, const char *want)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return strcmp(json_string_value(v), want) == 0;
	case JSON_TRUE:
	case JSON_FALSE: {
		bool b;
		return str_to_bool(want, &b) && b == json_is_true(v);
	}
	case JSON_INTEGER: {
		char *end;
		errno = 0;
		long long n = strtoll(want, &end, 10);
		return *want && !*end && !errno && n == json_integer_value(v);
	}
	case JSON_REAL: {
		char *end;
		double d = strtod(want, &end);
		return *want && !*end && d == json_real_value(v);
	}
	case JSON_NULL:
		return strcmp(want, "None") == 0 || strcmp(want, "null") == 0;
	default:
		return false;
	}
}

static bool value_matches(const json_t *v, const net_filter *f)
{
	for (size_t i = 0; i < f->nvalues; i++) {
		if (json_is_array(v)) {
			size_t k;
			json_t *e;
			json_array_foreach(v, k, e)
				if (scalar_matches(e, f->values[i]))
					return true;
		} else if (scalar_matches(v, f->values[i])) {
			return true;
		}
	}
	return false;
}

static bool has_tag(const json_t *tags, const char *t, size_t n)
{
	size_t i;
	json_t *e;
	json_array_foreach(tags, i, e)
		if (json_is_string(e) && strlen(json_string_value(e)) == n &&
		    strncmp(json_string_value(e), t, n) == 0)
			return true;
	return false;
}

/* tags=a,b (all), tags-any=a,b, not-tags=a,b (not all), not-tags-any=a,b (none) */
static bool tags_match(const json_t *item, const net_filter *f, bool any, bool negate)
{
	const json_t *tags = json_object_get(item, "tags");
	if (!json_is_array(tags))
		tags = NULL;
	bool all = true, some = false;
	for (size_t i = 0; i < f->nvalues; i++) {
		const char *s = f->values[i];
		while (*s) {
			size_t n = strcspn(s, ",");
			if (n) {
				bool h = tags && has_tag(tags, s, n);
				all = all && h;
				some = some || h;
			}
			s += n;
			if (*s == ',')
				s++;
		}
	}
	bool m = any ? some : all;
	return negate ? !m : m;
}

bool net_listq_match(const net_listq *q, const json_t *item)
{
	for (size_t i = 0; q && i < q->nfilters; i++) {
		const net_filter *f = &q->filters[i];
		if (f->used)
			continue;
		if (strcmp(f->key, "tags") == 0) {
			if (!tags_match(item, f, false, false))
				return false;
			continue;
		}
		if (strcmp(f->key, "tags-any") == 0) {
			if (!tags_match(item, f, true, false))
				return false;
			continue;
		}
		if (strcmp(f->key, "not-tags") == 0) {
			if (!tags_match(item, f, false, true))
				return false;
			continue;
		}
		if (strcmp(f->key, "not-tags-any") == 0) {
			if (!tags_match(item, f, true, true))
				return false;
			continue;
		}
		const json_t *v = json_object_get(item, f->key);
		if (!v || json_is_object(v))
			continue;
		if (!value_matches(v, f))
			return false;
	}
	return true;
}

json_t *net_fields(const net_listq *q, const json_t *obj)
{
	if (!q || q->nfields == 0)
		return json_deep_copy(obj);
	json_t *o = json_object();
	for (size_t i = 0; i < q->nfields; i++) {
		json_t *v = json_object_get(obj, q->fields[i]);
		if (v)
			json_object_set_new(o, q->fields[i], json_deep_copy(v));
	}
	return o;
}

/* ------------------------------------------------------------------------ */
/* Sorting and pagination */

static int type_rank(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL: return 0;
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_INTEGER:
	case JSON_REAL: return 1;
	case JSON_STRING: return 2;
	default: return 3;
	}
}

static double num_of(const json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v) ? 1 : 0;
	return json_number_value(v);
}

static int cmp_values(const json_t *a, const json_t *b)
{
	if (!a)
		a = json_null();
	if (!b)
		b = json_null();
	int ra = type_rank(a), rb = type_rank(b);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	switch (ra) {
	case 0:
		return 0;
	case 1: {
		if (json_is_integer(a) && json_is_integer(b)) {
			json_int_t x = json_integer_value(a), y = json_integer_value(b);
			return (x > y) - (x < y);
		}
		double x = num_of(a), y = num_of(b);
		return (x > y) - (x < y);
	}
	case 2:
		return strcmp(json_string_value(a), json_string_value(b));
	default: {
		_cleanup_free_ char *x = kjson_dump(a);
		_cleanup_free_ char *y = kjson_dump(b);
		return strcmp(x ? x : "", y ? y : "");
	}
	}
}

typedef struct sort_ctx {
	const char **keys;
	bool *desc;
	size_t n;
} sort_ctx;

static int cmp_items(const sort_ctx *s, const json_t *a, const json_t *b)
{
	for (size_t i = 0; i < s->n; i++) {
		int c = cmp_values(json_object_get(a, s->keys[i]), json_object_get(b, s->keys[i]));
		if (c)
			return s->desc[i] ? -c : c;
	}
	return 0;
}

static __thread const sort_ctx *qsort_ctx;

static int qsort_cmp(const void *pa, const void *pb)
{
	return cmp_items(qsort_ctx, *(json_t *const *)pa, *(json_t *const *)pb);
}

/* quote_plus */
static void url_quote(kpool *pool, char **out, const char *s)
{
	size_t n = strlen(s);
	char *buf = kpool_alloc(pool, n * 3 + 1), *p = buf;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (isalnum(*c) || *c == '_' || *c == '.' || *c == '-' || *c == '~')
			*p++ = (char)*c;
		else if (*c == ' ')
			*p++ = '+';
		else
			p += sprintf(p, "%%%02X", *c);
	}
	*p = 0;
	*out = kpool_printf(pool, "%s%s", *out, buf);
}

static const char *page_href(net_listq_priv *p, const char *marker, bool previous)
{
	kreq *r = p->r;
	char *qs = kpool_strdup(r->pool, "");
	bool first = true;
	for (size_t i = 0; i < p->nargs; i++) {
		const char *k = p->args[i].key;
		if (strcmp(k, "marker") == 0 || strcmp(k, "page_reverse") == 0)
			continue;
		qs = kpool_printf(r->pool, "%s%s", qs, first ? "" : "&");
		url_quote(r->pool, &qs, k);
		qs = kpool_printf(r->pool, "%s=", qs);
		url_quote(r->pool, &qs, p->args[i].value);
		first = false;
	}
	if (marker) {
		qs = kpool_printf(r->pool, "%s%smarker=", qs, first ? "" : "&");
		url_quote(r->pool, &qs, marker);
		first = false;
	}
	if (previous)
		qs = kpool_printf(r->pool, "%s%spage_reverse=True", qs, first ? "" : "&");
	return kpool_printf(r->pool, "%s%s?%s", kreq_base_url(r), r->path, qs);
}

static const char *member_title(kpool *pool, const char *collection)
{
	static const char *const names[][2] = {
		{ "networks", "Network" }, { "subnets", "Subnet" }, { "ports", "Port" },
		{ "subnetpools", "Subnetpool" }, { "routers", "Router" },
		{ "floatingips", "Floating IP" }, { "security_groups", "Security group" },
		{ "security_group_rules", "Security group rule" }, { "agents", "Agent" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(names[i][0], collection) == 0)
			return names[i][1];
	return kpool_strdup(pool, collection);
}

void net_respond_list(kreq *r, const char *collection, json_t *items, net_listq *q)
{
	_cleanup_json_ json_t *all = items;
	net_listq_priv *p = (net_listq_priv *)q;
	size_t n = json_array_size(all);

	/* sort keys: the requested ones, then id (for a total order) */
	bool paged = q && q->limit > 0;
	size_t nk = q ? q->nsorts : 0;
	const char **keys = kpool_alloc(r->pool, (nk + 2) * sizeof(*keys));
	bool *desc = kpool_alloc(r->pool, (nk + 2) * sizeof(*desc));
	bool have_id = false;
	for (size_t i = 0; i < nk; i++) {
		keys[i] = q->sort_keys[i];
		desc[i] = q->sort_desc[i];
		have_id = have_id || strcmp(keys[i], "id") == 0;
	}
	bool sorting = nk > 0 || paged;
	if (sorting && !have_id) {
		keys[nk] = "id";
		desc[nk] = false;
		nk++;
	}
	/* page_reverse walks the order backwards */
	bool reverse = paged && q->page_reverse;
	if (reverse)
		for (size_t i = 0; i < nk; i++)
			desc[i] = !desc[i];
	sort_ctx sc = { keys, desc, nk };

	/* the marker among all visible objects */
	json_t *marker = NULL;
	if (paged && q->marker) {
		size_t i;
		json_t *e;
		json_array_foreach(all, i, e) {
			const char *id = kjson_str(e, "id");
			if (id && strcmp(id, q->marker) == 0) {
				marker = e;
				break;
			}
		}
		if (!marker) {
			const char *title = member_title(r->pool, collection);
			char type[64];
			snprintf(type, sizeof(type), "%sNotFound", title);
			for (char *c = type; *c; c++)
				if (*c == ' ')
					memmove(c, c + 1, strlen(c));
			net_error(r, 404, type, "%s %s could not be found.", title, q->marker);
			return;
		}
	}

	json_t **v = kpool_alloc(r->pool, (n + 1) * sizeof(*v));
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(all, i);
		if (!net_listq_match(q, e))
			continue;
		if (marker && cmp_items(&sc, e, marker) <= 0)
			continue;
		v[m++] = e;
	}
	if (sorting && m > 1) {
		qsort_ctx = &sc;
		qsort(v, m, sizeof(*v), qsort_cmp);
		qsort_ctx = NULL;
	}
	if (paged && (int64_t)m > q->limit)
		m = (size_t)q->limit;
	if (reverse)
		for (size_t i = 0; i < m / 2; i++) {
			json_t *t = v[i];
			v[i] = v[m - 1 - i];
			v[m - 1 - i] = t;
		}

	json_t *out = json_array();
	for (size_t i = 0; i < m; i++)
		json_array_append_new(out, net_fields(q, v[i]));
	json_t *body = json_object();
	json_object_set_new(body, collection, out);
	if (paged) {
		json_t *links = json_array();
		bool short_page = (int64_t)m < q->limit;
		if (!(short_page && !q->page_reverse))
			json_array_append_new(
			        links, json_pack("{s:s,s:s}", "rel", "next", "href",
			                         page_href(p, m ? kjson_str(v[m - 1], "id") : NULL,
			                                   false)));
		if (!(short_page && q->page_reverse))
			json_array_append_new(
			        links,
			        json_pack("{s:s,s:s}", "rel", "previous", "href",
			                  page_href(p, m ? kjson_str(v[0], "id") : NULL, true)));
		if (json_array_size(links))
			json_object_set_new(body, kpool_printf(r->pool, "%s_links", collection),
			                    links);
		else
			json_decref(links);
	}
	kresp_json(r, 200, body);
}

void net_respond_one(kreq *r, int status, const char *member, json_t *obj)
{
	json_t *o = obj;
	if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
		const char *f = kreq_query(r, "fields");
		if (f) {
			net_listq *q = net_listq_parse(r, NULL);
			if (!q) {
				json_decref(obj);
				return;
			}
			o = net_fields(q, obj);
			json_decref(obj);
		}
	}
	kresp_json(r, status, json_pack("{s:o}", member, o));
}

/* ------------------------------------------------------------------------ */
/* Standard attributes */

const char *net_time(kreq *r, int64_t us)
{
	char buf[32];
	kutil_iso8601_s(us, buf);
	return kpool_strdup(r->pool, buf);
}

static void time_attr(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v))
		return;
	char buf[32];
	kutil_iso8601_s(json_integer_value(v), buf);
	json_object_set_new(obj, key, json_string(buf));
}

static void std_attrs(json_t *obj)
{
	time_attr(obj, "created_at");
	time_attr(obj, "updated_at");
	json_t *p = json_object_get(obj, "project_id");
	if (p)
		json_object_set(obj, "tenant_id", p);
	json_t *d = json_object_get(obj, "description");
	if (!d || json_is_null(d))
		json_object_set_new(obj, "description", json_string(""));
}

static int cmp_str_json(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	              json_string_value(*(json_t *const *)b));
}

static void sort_strings(json_t *arr)
{
	size_t n = json_array_size(arr);
	if (n < 2)
		return;
	json_t **v = calloc(n, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp_str_json);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

json_t *net_tags_get(const char *restype, const char *id)
{
	json_t *tags = json_array();
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT tag FROM net_tag WHERE "
	                                             "resource_type = ? AND resource_id = ? "
	                                             "ORDER BY tag", "ss", restype, id);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_array_append(tags, json_object_get(row, "tag"));
	return tags;
}

int net_tags_delete(const char *restype, const char *id)
{
	return kdb_run(net_db, NULL, "DELETE FROM net_tag WHERE resource_type = ? AND "
	               "resource_id = ?", "ss", restype, id) == KDB_DONE ? 0 : -1;
}

void net_std_view(json_t *obj, const char *restype)
{
	if (!json_is_object(obj))
		return;
	std_attrs(obj);
	const char *id = kjson_str(obj, "id");
	if (restype && id)
		json_object_set_new(obj, "tags", net_tags_get(restype, id));
}

void net_std_view_list(json_t *items, const char *restype)
{
	size_t i;
	json_t *obj;
	if (!json_is_array(items))
		return;
	json_array_foreach(items, i, obj) {
		std_attrs(obj);
		if (restype)
			json_object_set_new(obj, "tags", json_array());
	}
	if (!restype || json_array_size(items) == 0)
		return;
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT resource_id, tag FROM "
	                                             "net_tag WHERE resource_type = ?", "s",
	                                             restype);
	if (!rows || json_array_size(rows) == 0)
		return;
	_cleanup_json_ json_t *by_id = json_object();
	json_array_foreach(rows, i, obj) {
		const char *rid = kjson_str(obj, "resource_id");
		json_t *arr = json_object_get(by_id, rid);
		if (!arr) {
			arr = json_array();
			json_object_set_new(by_id, rid, arr);
		}
		json_array_append(arr, json_object_get(obj, "tag"));
	}
	json_array_foreach(items, i, obj) {
		const char *id = kjson_str(obj, "id");
		json_t *arr = id ? json_object_get(by_id, id) : NULL;
		if (arr) {
			sort_strings(arr);
			json_object_set(obj, "tags", arr);
		}
	}
}

void net_bools(json_t *obj, ...)
{
	va_list ap;
	va_start(ap, obj);
	const char *k;
	while ((k = va_arg(ap, const char *))) {
		json_t *v = json_object_get(obj, k);
		if (json_is_integer(v))
			json_object_set_new(obj, k, json_boolean(json_integer_value(v) != 0));
	}
	va_end(ap);
}

void net_rename(json_t *obj, const char *from, const char *to)
{
	json_t *v = json_object_get(obj, from);
	if (!v)
		return;
	json_object_set(obj, to, v);
	json_object_del(obj, from);
}

int net_touch(const char *table, const char *id)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "UPDATE %s SET revision_number = revision_number + 1, "
	         "updated_at = ? WHERE id = ?", table);
	return kdb_run(net_db, NULL, sql, "is", kutil_now_us(), id) == KDB_DONE ? 0 : -1;
}

void net_new_id(char out[37])
{
	kutil_uuid(out);
}

/* ------------------------------------------------------------------------ */
/* Visibility */

const char *net_project(kreq *r)
{
	return r->ctx && r->ctx->project_id ? r->ctx->project_id : "";
}

bool net_visible(kreq *r, const char *project_id, bool public_too)
{
	if (public_too || net_is_admin(r))
		return true;
	const char *mine = net_project(r);
	return project_id && *mine && strcmp(project_id, mine) == 0;
}

/* ------------------------------------------------------------------------ */
/* Bodies and validation */

json_t *net_body(kreq *r, const char *member, const char *collection, bool *bulk)
{
	if (bulk)
		*bulk = false;
	if (!r->body || r->body_len == 0) {
		net_error(r, 400, NULL, "Resource body required");
		return NULL;
	}
	json_error_t err;
	json_t *body = json_loadb(r->body, r->body_len, 0, &err);
	if (!body) {
		net_error(r, 400, NULL, "Malformed request body");
		return NULL;
	}
	kpool_json(r->pool, body);
	if (!json_is_object(body)) {
		net_error(r, 400, NULL, "Body contains invalid data");
		return NULL;
	}
	json_t *list = kpool_json(r->pool, json_array());
	json_t *coll = collection ? json_object_get(body, collection) : NULL;
	if (collection && coll) {
		if (!json_is_array(coll)) {
			net_error(r, 400, NULL, "Body contains invalid data");
			return NULL;
		}
		if (json_array_size(coll) == 0) {
			net_error(r, 400, NULL, "Resources required");
			return NULL;
		}
		size_t i;
		json_t *e;
		json_array_foreach(coll, i, e) {
			json_t *inner = json_is_object(e) ? json_object_get(e, member) : NULL;
			json_t *o = inner ? inner : e;
			if (!json_is_object(o)) {
				net_error(r, 400, NULL, "Object '%s' contains invalid data",
				          member);
				return NULL;
			}
			json_array_append(list, o);
		}
		if (bulk)
			*bulk = true;
		return list;
	}
	json_t *o = json_object_get(body, member);
	if (!o || json_is_null(o)) {
		net_error(r, 400, NULL, "Unable to find '%s' in request body", member);
		return NULL;
	}
	if (!json_is_object(o)) {
		net_error(r, 400, NULL, "Object '%s' contains invalid data", member);
		return NULL;
	}
	json_array_append(list, o);
	return list;
}

/* Python's str() of a JSON value, as neutron-lib's messages print data. */
static const char *py_str(kpool *pool, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: return kpool_strdup(pool, json_string_value(v));
	case JSON_TRUE: return "True";
	case JSON_FALSE: return "False";
	case JSON_NULL: return "None";
	case JSON_INTEGER: return kpool_printf(pool, "%lld", (long long)json_integer_value(v));
	case JSON_REAL: return kpool_printf(pool, "%g", json_real_value(v));
	default: {
		char *s = kjson_dump(v);
		const char *out = kpool_strdup(pool, s ? s : "");
		free(s);
		return out;
	}
	}
}

bool net_bad_input(kreq *r, const char *attr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *reason = kpool_vprintf(r->pool, fmt, ap);
	va_end(ap);
	net_error(r, 400, NULL, "Invalid input for %s. Reason: %s.", attr, reason);
	return false;
}

const char *net_check_uuid(const char *s)
{
	if (!s || !kutil_is_uuid(s))
		return "not a valid UUID";
	return NULL;
}

const char *net_check_mac(const char *s)
{
	if (!s)
		return "not a valid MAC address";
	unsigned v[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
	                              &v[4], &v[5], &tail) != 6)
		return "not a valid MAC address";
	for (int i = 0; i < 17; i++)
		if ((i % 3 == 2) ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return "not a valid MAC address";
	/* neither all zero nor multicast/broadcast, as neutron-lib */
	if ((v[0] | v[1] | v[2] | v[3] | v[4] | v[5]) == 0 || (v[0] & 1))
		return "not a valid MAC address";
	return NULL;
}

static bool valid_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool valid_cidr(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash)
		return false;
	char addr[64];
	size_t n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(addr))
		return false;
	memcpy(addr, s, n);
	addr[n] = 0;
	char *end;
	errno = 0;
	long pl = strtol(slash + 1, &end, 10);
	if (!slash[1] || *end || errno || pl < 0)
		return false;
	unsigned char buf[16];
	if (inet_pton(AF_INET, addr, buf) == 1)
		return pl <= 32;
	if (inet_pton(AF_INET6, addr, buf) == 1)
		return pl <= 128;
	return false;
}

/* Validate/convert one attribute value; reason for net_bad_input or NULL. */
static const char *check_value(kreq *r, json_t *obj, const net_attr *a, bool *invalid_input)
{
	json_t *v = json_object_get(obj, a->name);
	kpool *pool = r->pool;
	*invalid_input = false;
	if (json_is_null(v) && (a->flags & NET_A_NULL))
		return NULL;
	switch (a->type) {
	case NET_A_ANY:
		return NULL;
	case NET_A_STRING: {
		if (!json_is_string(v))
			return kpool_printf(pool, "'%s' is not a valid string", py_str(pool, v));
		int max = a->max_len == 0 ? 255 : a->max_len;
		if (max > 0) {
			/* characters, not bytes */
			size_t chars = 0;
			for (const unsigned char *c = (const unsigned char *)json_string_value(v);
			     *c; c++)
				if ((*c & 0xc0) != 0x80)
					chars++;
			if (chars > (size_t)max)
				return kpool_printf(pool, "'%s' exceeds maximum length of %d",
				                    json_string_value(v), max);
		}
		return NULL;
	}
	case NET_A_BOOL: {
		bool b;
		if (!net_to_bool(v, &b)) {
			*invalid_input = true;
			return kpool_printf(pool, "'%s' cannot be converted to boolean",
			                    py_str(pool, v));
		}
		json_object_set_new(obj, a->name, json_boolean(b));
		return NULL;
	}
	case NET_A_INT: {
		json_int_t n;
		if (json_is_integer(v)) {
			n = json_integer_value(v);
		} else if (json_is_string(v)) {
			const char *s = json_string_value(v);
			char *end;
			errno = 0;
			long long l = strtoll(s, &end, 10);
			if (!*s || *end || errno) {
				*invalid_input = true;
				return kpool_printf(pool, "'%s' is not an integer", s);
			}
			n = l;
		} else if (json_is_boolean(v)) {
			n = json_is_true(v);
		} else {
			*invalid_input = true;
			return kpool_printf(pool, "'%s' is not an integer", py_str(pool, v));
		}
		if (a->min < a->max) {
			if (n < a->min)
				return kpool_printf(pool,
				                    "'%lld' is too small - must be at least '%lld'",
				                    (long long)n, (long long)a->min);
			if (n > a->max)
				return kpool_printf(pool,
				                    "'%lld' is too large - must be no larger than "
				                    "'%lld'",
				                    (long long)n, (long long)a->max);
		}
		json_object_set_new(obj, a->name, json_integer(n));
		return NULL;
	}
	case NET_A_UUID:
		if (!json_is_string(v) || !kutil_is_uuid(json_string_value(v)))
			return kpool_printf(pool, "'%s' is not a valid UUID", py_str(pool, v));
		return NULL;
	case NET_A_IP:
		if (!json_is_string(v) || !valid_ip(json_string_value(v)))
			return kpool_printf(pool, "'%s' is not a valid IP address",
			                    py_str(pool, v));
		return NULL;
	case NET_A_CIDR:
		if (!json_is_string(v) || !valid_cidr(json_string_value(v)))
			return kpool_printf(pool, "'%s' is not a valid IP subnet", py_str(pool, v));
		return NULL;
	case NET_A_MAC:
		if (!json_is_string(v) || net_check_mac(json_string_value(v)))
			return kpool_printf(pool, "'%s' is not a valid MAC address",
			                    py_str(pool, v));
		return NULL;
	case NET_A_LIST:
		if (!json_is_array(v))
			return kpool_printf(pool, "'%s' is not a list", py_str(pool, v));
		return NULL;
	case NET_A_DICT:
		if (!json_is_object(v))
			return kpool_printf(pool, "'%s' is not a dictionary", py_str(pool, v));
		return NULL;
	case NET_A_ENUM: {
		const char *s = json_string_value(v);
		for (const char *const *c = a->choices; s && c && *c; c++)
			if (strcmp(*c, s) == 0)
				return NULL;
		size_t n = 0;
		for (const char *const *c = a->choices; c && *c; c++)
			n++;
		return kpool_printf(pool, "'%s' is not in %s", py_str(pool, v),
		                    py_list(pool, (const char **)a->choices, n));
	}
	}
	return NULL;
}

static const net_attr *find_attr(const net_attr *attrs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(attrs[i].name, name) == 0)
			return &attrs[i];
	return NULL;
}

bool net_validate(kreq *r, json_t *obj, const net_attr *attrs, size_t n, bool create)
{
	/* project_id / tenant_id: the same, if both are given */
	json_t *pid = json_object_get(obj, "project_id"), *tid = json_object_get(obj, "tenant_id");
	if (create && (pid || tid)) {
		if (!pid)
			json_object_set(obj, "project_id", tid);
		else if (!tid)
			json_object_set(obj, "tenant_id", pid);
		else if (!json_equal(pid, tid)) {
			net_error(r, 400, NULL, "'project_id' and 'tenant_id' do not match");
			return false;
		}
	}
	/* unknown attributes */
	char *extra = NULL;
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		if (strcmp(key, "project_id") == 0 || strcmp(key, "tenant_id") == 0)
			continue;
		if (!find_attr(attrs, n, key))
			extra = extra ? kpool_printf(r->pool, "%s, %s", extra, key)
			              : kpool_strdup(r->pool, key);
	}
	if (extra) {
		net_error(r, 400, NULL, "Unrecognized attribute(s) '%s'", extra);
		return false;
	}
	if (create) {
		for (size_t i = 0; i < n; i++) {
			bool present = json_object_get(obj, attrs[i].name) != NULL;
			if (!(attrs[i].flags & NET_A_POST) && present) {
				net_error(r, 400, NULL, "Attribute '%s' not allowed in POST",
				          attrs[i].name);
				return false;
			}
			if ((attrs[i].flags & NET_A_REQUIRED) && !present) {
				net_error(r, 400, NULL,
				          "Failed to parse request. Required attribute '%s' "
				          "not specified",
				          attrs[i].name);
				return false;
			}
		}
	} else {
		if (pid || tid) {
			net_error(r, 400, NULL, "Cannot update read-only attribute %s",
			          pid ? "project_id" : "tenant_id");
			return false;
		}
		for (size_t i = 0; i < n; i++)
			if (!(attrs[i].flags & NET_A_PUT) && json_object_get(obj, attrs[i].name)) {
				net_error(r, 400, NULL, "Cannot update read-only attribute %s",
				          attrs[i].name);
				return false;
			}
	}
	if (create && (pid = json_object_get(obj, "project_id"))) {
		if (!json_is_string(pid) || json_string_length(pid) > 255) {
			net_bad_input(r, "project_id", "'%s' is not a valid string",
			              py_str(r->pool, pid));
			return false;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!json_object_get(obj, attrs[i].name))
			continue;
		bool invalid_input;
		const char *reason = check_value(r, obj, &attrs[i], &invalid_input);
		if (reason) {
			if (invalid_input)
				net_error(r, 400, "InvalidInput",
				          "Invalid input for operation: %s.", reason);
			else
				net_bad_input(r, attrs[i].name, "%s", reason);
			return false;
		}
	}
	return true;
}

const char *net_body_project(kreq *r, json_t *obj)
{
	const char *p = kjson_str(obj, "project_id");
	if (!p)
		p = kjson_str(obj, "tenant_id");
	const char *mine = net_project(r);
	if (!p || !*p) {
		p = mine;
	} else if (strcmp(p, mine) != 0 && !net_is_admin(r)) {
		net_error(r, 403, "PolicyNotAuthorized", "Specifying 'project_id' or 'tenant_id' "
		          "other than the authenticated project in request requires admin "
		          "privileges");
		return NULL;
	}
	if (!*p) {
		net_error(r, 400, NULL, "Failed to parse request. Required attribute 'project_id' "
		          "not specified");
		return NULL;
	}
	p = kpool_strdup(r->pool, p);
	json_object_set_new(obj, "project_id", json_string(p));
	json_object_set_new(obj, "tenant_id", json_string(p));
	return p;
}

/* ------------------------------------------------------------------------ */
/* Quotas */

static const struct quota_res {
	const char *name;
	const char *table;
	long def;
} quota_res[] = {
	{ "network", "net_network", 100 },
	{ "subnet", "net_subnet", 100 },
	{ "subnetpool", "net_subnetpool", -1 },
	{ "port", "net_port", 500 },
	{ "router", "net_router", 10 },
	{ "floatingip", "net_floatingip", 50 },
	{ "security_group", "net_security_group", 10 },
	{ "security_group_rule", "net_security_group_rule", 100 },
	{ "rbac_policy", NULL, 10 },
};

static const struct quota_res *quota_find(const char *resource)
{
	for (size_t i = 0; i < ARRAY_SIZE(quota_res); i++)
		if (strcmp(quota_res[i].name, resource) == 0)
			return &quota_res[i];
	return NULL;
}

int64_t net_quota_limit(const char *project, const char *resource)
{
	const struct quota_res *q = quota_find(resource);
	if (!q)
		return -1;
	bool found = false;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT hard_limit FROM "
	                                           "net_quota WHERE project_id = ? AND "
	                                           "resource = ?", "ss", project, resource);
	if (row)
		return json_integer_value(json_object_get(row, "hard_limit"));
	char key[64];
	snprintf(key, sizeof(key), "quota_%s", resource);
	return kumo_conf ? kconf_get_int(kumo_conf, "quotas", key, q->def) : q->def;
}

int64_t net_quota_used(const char *project, const char *resource)
{
	const struct quota_res *q = quota_find(resource);
	if (!q || !q->table)
		return 0;
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) AS n FROM %s WHERE project_id = ?", q->table);
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, sql, "s", project);
	return row ? json_integer_value(json_object_get(row, "n")) : 0;
}

bool net_quota_check(kreq *r, const char *project, const char *resource, int wanted)
{
	int64_t limit = net_quota_limit(project, resource);
	if (limit < 0)
		return true;
	if (net_quota_used(project, resource) + wanted <= limit)
		return true;
	net_error(r, 409, "OverQuota", "Quota exceeded for resources: ['%s'].", resource);
	return false;
}

/* ------------------------------------------------------------------------ */
/* Notifications */

void net_notify(const char *type, const char *id)
{
	if (!kumo_bus || !type || !id)
		return;
	json_t *args = json_pack("{s:s,s:s}", "type", type, "id", id);
	if (kbus_fanout(kumo_bus, "network-agent", "changed", args) != 0)
		klog_debug("network", "notify %s %s: no agent listening", type, id);
	json_decref(args);
}
