/*
 * token.c - token payloads, issuing and validating tokens, revocation events.
 *
 * A token is a Fernet token (fernet.c) around a small binary payload; nothing
 * is stored per token.  The payload, version 1, is:
 *
 *     u8      version (1)
 *     varint  methods bitmask: password 1, token 2, totp 4,
 *             application_credential 8, external 16, mapped 32, oauth1 64
 *     u8      scope: 0 unscoped, 1 project, 2 domain, 3 system (all)
 *     id      user id
 *     id      project or domain id (project and domain scopes only)
 *     id      application credential id (with the application_credential
 *             method only)
 *     varint  expires_at, seconds since the epoch
 *     varint  microseconds of issued_at (0..999999); the seconds are the
 *             Fernet timestamp
 *     u8      number of audit ids (1, or 2 for a token made by the token
 *             method: its own, then the parent's chain id)
 *     16 B    each audit id (shown as 22 characters of base64url)
 *
 * where varint is unsigned LEB128 and an id is either 0x00 + 16 bytes (an id
 * made of 32 lowercase hex digits, Keystone's uuid4 hex) or 0x01 + varint
 * length (1..64) + that many printable ASCII bytes (e.g. "default").  The
 * decoder is strict: unknown version, bits or tags, wrong lengths and
 * trailing bytes are all rejected.  A project-scoped token is ~200
 * characters.
 *
 * issued_at has microsecond precision so that revocation is exact: an event
 * revokes tokens issued before it, and a token issued right after a password
 * change (same second) stays valid.  issued_at is taken when authentication
 * starts, before the password is checked, so it can never postdate a
 * revocation the authentication did not see.
 *
 * Validation (idtoken_validate, the in-process kauth validator) decrypts,
 * checks expiry, re-resolves the user, the scope and the roles (the user and
 * its domain must exist and be enabled, likewise the project and its domain
 * or the domain; a scoped token needs at least one role), then checks the
 * revocation events.  A token of an application credential also needs the
 * credential (still there, of the same user and project, not expired) and
 * carries only its roles that the user still has on the project.  If the
 * credential has access rules, only a validator that enforces them may
 * accept the token (Keystone's OpenStack-Identity-Access-Rules); the Kumo
 * services in this process don't, so their validator refuses it.  Two
 * in-memory caches keep that fast:
 *   - the revocation events (rows of revocation_event still relevant),
 *     indexed by audit id / user / project / domain; reloaded when this
 *     process wrote an event (a generation counter) and otherwise at most
 *     once a second, so other processes' events are seen within a second;
 *   - the resolved user/scope/roles (and the catalog), keyed by user, scope
 *     and application credential, valid for one second and dropped whenever
 *     the events change: every disable, delete, password change or role
 *     removal writes an event, which is what makes a short cache safe; what
 *     adds roles (a grant, a group membership, an implication) or changes
 *     application credentials or OS-EP-FILTER associations drops it too, so
 *     this process shows it at once.
 * Issuing always resolves from the database, never from the cache.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "identity/identity.h"

#define PAYLOAD_VERSION 1
#define MAX_PAYLOAD 512
#define UNAUTHORIZED "The request you have made requires authentication."
#define TTL_US 1000000
#define MAX_TIME_S 100000000000LL   /* year 5138: keeps *1e6 far from overflow */
#define APPCRED_BIT (1u << 3)       /* method_names[3] */

static const char *const method_names[] = {
	"password", "token", "totp", "application_credential", "external", "mapped", "oauth1",
};

unsigned idtoken_method_bit(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(method_names); i++)
		if (strcmp(name, method_names[i]) == 0)
			return 1u << i;
	return 0;
}

static int64_t token_expiration(void)
{
	long v = kconf_get_int(kumo_conf, "identity", "token_expiration", 3600);
	return v < 0 ? 0 : v;
}

static int64_t expired_window(void)
{
	long v = kconf_get_int(kumo_conf, "identity", "allow_expired_window", 48 * 3600);
	return v < 0 ? 0 : v;
}

/* ---- payload encoding ---- */

typedef struct wbuf {
	unsigned char *p;
	size_t n, cap;
	bool ok;
} wbuf;

static void put_byte(wbuf *w, unsigned v)
{
	if (w->n >= w->cap)
		w->ok = false;
	else
		w->p[w->n++] = (unsigned char)v;
}

static void put_varint(wbuf *w, uint64_t v)
{
	do {
		put_byte(w, (v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static bool is_hex_id(const char *s)
{
	return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static unsigned hexval(char c)
{
	return (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
}

static void put_id(wbuf *w, const char *id)
{
	size_t n = strlen(id);
	if (is_hex_id(id)) {
		put_byte(w, 0);
		for (int i = 0; i < 32; i += 2)
			put_byte(w, hexval(id[i]) << 4 | hexval(id[i + 1]));
	} else if (n >= 1 && n <= ID_MAX_ID && printable(id, n)) {
		put_byte(w, 1);
		put_varint(w, n);
		for (size_t i = 0; i < n; i++)
			put_byte(w, (unsigned char)id[i]);
	} else {
		w->ok = false;
	}
}

long idtoken_payload_encode(const id_payload *p, unsigned char *out, size_t cap)
{
	wbuf w = { out, 0, cap, true };
	bool scoped = p->scope == ID_SCOPE_PROJECT || p->scope == ID_SCOPE_DOMAIN;
	if (p->scope < ID_SCOPE_UNSCOPED || p->scope > ID_SCOPE_SYSTEM || p->naudit < 1 ||
	    p->naudit > 2 || p->issued_us < 0 || p->issued_us > 999999 || p->expires_at_s < 0 ||
	    p->expires_at_s >= MAX_TIME_S || p->methods >= 1u << ARRAY_SIZE(method_names))
		return -1;
	put_byte(&w, PAYLOAD_VERSION);
	put_varint(&w, p->methods);
	put_byte(&w, (unsigned)p->scope);
	put_id(&w, p->user_id);
	if (scoped)
		put_id(&w, p->scope_id);
	if (p->methods & APPCRED_BIT)
		put_id(&w, p->appcred_id);
	put_varint(&w, (uint64_t)p->expires_at_s);
	put_varint(&w, (uint64_t)p->issued_us);
	put_byte(&w, (unsigned)p->naudit);
	for (int a = 0; a < p->naudit; a++)
		for (int i = 0; i < 16; i++)
			put_byte(&w, p->audit_ids[a][i]);
	return w.ok ? (long)w.n : -1;
}

typedef struct rbuf {
	const unsigned char *p;
	size_t n, pos;
} rbuf;

static bool get_byte(rbuf *r, unsigned *v)
{
	if (r->pos >= r->n)
		return false;
	*v = r->p[r->pos++];
	return true;
}

static bool get_varint(rbuf *r, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 63; shift += 7) {
		unsigned b;
		if (!get_byte(r, &b))
			return false;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0 && shift > 0)
				return false;       /* not minimal */
			*v = x;
			return x <= max;
		}
	}
	return false;
}

static bool get_id(rbuf *r, char out[ID_MAX_ID + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned tag, b;
	if (!get_byte(r, &tag))
		return false;
	if (tag == 0) {
		for (int i = 0; i < 16; i++) {
			if (!get_byte(r, &b))
				return false;
			out[2 * i] = hex[b >> 4];
			out[2 * i + 1] = hex[b & 15];
		}
		out[32] = '\0';
		return true;
	}
	uint64_t n;
	if (tag != 1 || !get_varint(r, ID_MAX_ID, &n) || n == 0 || r->n - r->pos < n)
		return false;
	memcpy(out, r->p + r->pos, n);
	out[n] = '\0';
	r->pos += n;
	/* a hex id must use the compact form, so each id has one encoding */
	return printable(out, n) && !is_hex_id(out);
}

int idtoken_payload_decode(const unsigned char *in, size_t n, id_payload *p)
{
	rbuf r = { in, n, 0 };
	unsigned version, scope, naudit;
	uint64_t methods, expires, us;
	memset(p, 0, sizeof(*p));
	if (!get_byte(&r, &version) || version != PAYLOAD_VERSION ||
	    !get_varint(&r, (1u << ARRAY_SIZE(method_names)) - 1, &methods) ||
	    !get_byte(&r, &scope) || scope > ID_SCOPE_SYSTEM || !get_id(&r, p->user_id))
		return -1;
	p->methods = (unsigned)methods;
	p->scope = (int)scope;
	if ((scope == ID_SCOPE_PROJECT || scope == ID_SCOPE_DOMAIN) && !get_id(&r, p->scope_id))
		return -1;
	if ((methods & APPCRED_BIT) && !get_id(&r, p->appcred_id))
		return -1;
	if (!get_varint(&r, MAX_TIME_S - 1, &expires) || !get_varint(&r, 999999, &us) ||
	    !get_byte(&r, &naudit) || naudit < 1 || naudit > 2 || r.n - r.pos != 16 * naudit)
		return -1;
	p->expires_at_s = (int64_t)expires;
	p->issued_us = (int32_t)us;
	p->naudit = (int)naudit;
	for (unsigned a = 0; a < naudit; a++) {
		memcpy(p->audit_ids[a], in + r.pos, 16);
		r.pos += 16;
	}
	return 0;
}

/* 22-character audit id (pool string). */
static const char *audit_str(kpool *pool, const unsigned char raw[16])
{
	_cleanup_free_ char *s = kutil_b64url_encode(raw, 16, false);
	return kpool_strdup(pool, s);
}

/* ---- revocation events ---- */

enum { RK_AUDIT, RK_USER, RK_PROJECT, RK_DOMAIN, RK_NONE };

typedef struct revent {
	char *user_id, *project_id, *domain_id, *audit_id;   /* NULL matches anything */
	int64_t issued_before;                             /* microseconds */
} revent;

typedef struct revidx {
	int kind;
	const char *key;
	const revent *ev;
} revidx;

typedef struct revset {
	revent *ev;
	revidx *idx;       /* each event under its first non-NULL of audit, user, project, domain */
	size_t n;
	int64_t sum;       /* a cheap signature to notice changes */
} revset;

static pthread_rwlock_t rev_lock = PTHREAD_RWLOCK_INITIALIZER;
static revset *rev_cur;                       /* NULL until loaded once */
static pthread_mutex_t rev_reload_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t rev_gen = 1;          /* bumped by every local write */
static _Atomic uint64_t rev_loaded_gen;
static _Atomic int64_t rev_loaded_at;
static _Atomic bool rev_have;                 /* rev_cur was loaded once */
static _Atomic uint64_t cache_gen = 1;        /* the caches below are valid for one value */

static void revset_free(revset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->ev[i].user_id);
		free(s->ev[i].project_id);
		free(s->ev[i].domain_id);
		free(s->ev[i].audit_id);
	}
	free(s->ev);
	free(s->idx);
	free(s);
}

static int revidx_cmp(const void *a, const void *b)
{
	const revidx *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->key, y->key);
}

static char *dup_or_null(const char *s)
{
	if (!s || !*s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static int64_t rev_cutoff_us(void)
{
	return kutil_now_us() - (token_expiration() + expired_window() + 3600) * 1000000;
}

static revset *revset_load(void)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT user_id, project_id, domain_id, audit_id, issued_before "
		"FROM revocation_event WHERE issued_before >= ?");
	if (!st)
		return NULL;
	kstmt_bind_int(st, 1, rev_cutoff_us());
	revset *s = calloc(1, sizeof(*s));
	size_t cap = 0;
	int rc;
	if (!s)
		abort();
	while ((rc = kstmt_step(st)) == KDB_ROW) {
		if (s->n == cap) {
			cap = cap ? cap * 2 : 64;
			s->ev = realloc(s->ev, cap * sizeof(*s->ev));
			if (!s->ev)
				abort();
		}
		revent *e = &s->ev[s->n++];
		e->user_id = dup_or_null(kstmt_text(st, 0));
		e->project_id = dup_or_null(kstmt_text(st, 1));
		e->domain_id = dup_or_null(kstmt_text(st, 2));
		e->audit_id = dup_or_null(kstmt_text(st, 3));
		e->issued_before = kstmt_int(st, 4);
		s->sum += e->issued_before;
	}
	if (rc != KDB_DONE) {
		revset_free(s);
		return NULL;
	}
	s->idx = calloc(s->n ? s->n : 1, sizeof(*s->idx));
	if (!s->idx)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		revent *e = &s->ev[i];
		revidx *x = &s->idx[i];
		x->ev = e;
		if (e->audit_id)
			*x = (revidx){ RK_AUDIT, e->audit_id, e };
		else if (e->user_id)
			*x = (revidx){ RK_USER, e->user_id, e };
		else if (e->project_id)
			*x = (revidx){ RK_PROJECT, e->project_id, e };
		else if (e->domain_id)
			*x = (revidx){ RK_DOMAIN, e->domain_id, e };
		else
			*x = (revidx){ RK_NONE, "", e };
	}
	qsort(s->idx, s->n, sizeof(*s->idx), revidx_cmp);
	return s;
}

/* Make sure the in-memory events are fresh enough; -1 when none could ever be loaded. */
static int rev_refresh(void)
{
	int64_t now = kutil_now_us();
	bool local = atomic_load(&rev_loaded_gen) != atomic_load(&rev_gen);
	bool old = now - atomic_load(&rev_loaded_at) >= TTL_US;
	if (!local && !old)
		return 0;
	if (local || !atomic_load(&rev_have)) {
		pthread_mutex_lock(&rev_reload_mu);
	} else if (pthread_mutex_trylock(&rev_reload_mu) != 0) {
		return 0;           /* someone else is reloading; the current set will do */
	}
	uint64_t gen = atomic_load(&rev_gen);
	if (atomic_load(&rev_loaded_gen) == gen && now - atomic_load(&rev_loaded_at) < TTL_US) {
		pthread_mutex_unlock(&rev_reload_mu);
		return 0;
	}
	revset *s = revset_load();
	if (s) {
		pthread_rwlock_wrlock(&rev_lock);
		revset *old_set = rev_cur;
		rev_cur = s;
		pthread_rwlock_unlock(&rev_lock);
		if (!old_set || old_set->n != s->n || old_set->sum != s->sum)
			atomic_fetch_add(&cache_gen, 1);
		revset_free(old_set);
		atomic_store(&rev_loaded_gen, gen);
		atomic_store(&rev_loaded_at, kutil_now_us());
		atomic_store(&rev_have, true);
	}
	pthread_mutex_unlock(&rev_reload_mu);
	return atomic_load(&rev_have) ? 0 : -1;
}

typedef struct tvalues {
	const char *user_id, *project_id, *audit_id;
	const char *user_domain_id, *scope_domain_id;
	int64_t issued_at_us;
} tvalues;

static bool str_match(const char *ev, const char *tok)
{
	return !ev || (tok && strcmp(ev, tok) == 0);
}

static bool ev_matches(const revent *e, const tvalues *t)
{
	return e->issued_before >= t->issued_at_us && str_match(e->user_id, t->user_id) &&
	       str_match(e->project_id, t->project_id) && str_match(e->audit_id, t->audit_id) &&
	       (!e->domain_id || str_match(e->domain_id, t->user_domain_id) ||
	        str_match(e->domain_id, t->scope_domain_id));
}

static bool revset_matches(const revset *s, int kind, const char *key, const tvalues *t)
{
	if (!key)
		return false;
	revidx probe = { kind, key, NULL };
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (revidx_cmp(&s->idx[mid], &probe) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->n && revidx_cmp(&s->idx[i], &probe) == 0; i++)
		if (ev_matches(s->idx[i].ev, t))
			return true;
	return false;
}

static bool is_revoked(const tvalues *t)
{
	pthread_rwlock_rdlock(&rev_lock);
	const revset *s = rev_cur;
	bool r = !s || revset_matches(s, RK_AUDIT, t->audit_id, t) ||
	         revset_matches(s, RK_USER, t->user_id, t) ||
	         revset_matches(s, RK_PROJECT, t->project_id, t) ||
	         revset_matches(s, RK_DOMAIN, t->user_domain_id, t) ||
	         revset_matches(s, RK_DOMAIN, t->scope_domain_id, t) ||
	         revset_matches(s, RK_NONE, "", t);
	pthread_rwlock_unlock(&rev_lock);
	return r;
}

static void revoke(const char *user_id, const char *project_id, const char *domain_id,
                   const char *audit_id)
{
	if (!user_id && !project_id && !domain_id && !audit_id) {
		klog_warn("identity", "ignoring a revocation event that would match every token");
		return;
	}
	if (!id_db)
		return;
	int64_t now = kutil_now_us();
	char id[33];
	kutil_uuid_hex(id);
	int rc = kdb_run(id_db, NULL,
	                 "INSERT INTO revocation_event (id, user_id, project_id, domain_id, "
	                 "audit_id, issued_before, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
	                 "sssssii", id, user_id, project_id, domain_id, audit_id, now, now);
	if (rc != KDB_DONE)
		klog_error("identity", "cannot record a revocation event (user %s project %s "
		           "domain %s)", user_id ? user_id : "-", project_id ? project_id : "-",
		           domain_id ? domain_id : "-");
	else
		klog_debug("identity", "revocation event: user %s project %s domain %s audit %s",
		           user_id ? user_id : "-", project_id ? project_id : "-",
		           domain_id ? domain_id : "-", audit_id ? audit_id : "-");
	/* events older than any token that could still be validated */
	kdb_run(id_db, NULL, "DELETE FROM revocation_event WHERE revoked_at < ?", "i",
	        rev_cutoff_us());
	atomic_fetch_add(&rev_gen, 1);
	atomic_fetch_add(&cache_gen, 1);
}

void idtoken_revoke_user(const char *user_id)
{
	if (user_id)
		revoke(user_id, NULL, NULL, NULL);
}

void idtoken_revoke_project(const char *project_id)
{
	if (project_id)
		revoke(NULL, project_id, NULL, NULL);
}

void idtoken_revoke_domain(const char *domain_id)
{
	if (domain_id)
		revoke(NULL, NULL, domain_id, NULL);
}

void idtoken_revoke_assignment(const char *user_id, const char *project_id,
                               const char *domain_id)
{
	revoke(user_id, project_id, domain_id, NULL);
}

void idtoken_revoke_audit(const char *audit_id)
{
	if (audit_id)
		revoke(NULL, NULL, NULL, audit_id);
}

void idtoken_invalidate_cache(void)
{
	atomic_fetch_add(&cache_gen, 1);
}

/* ---- resolving a payload: user, scope, roles ---- */

typedef struct resolved {
	json_t *user;        /* {"id","name","domain":{"id","name"},"password_expires_at"} */
	json_t *project;     /* {"id","name","domain":{"id","name"}} or NULL */
	json_t *domain;      /* {"id","name"} (domain scope) or NULL */
	json_t *roles;       /* [{"id","name"}] */
	json_t *appcred;     /* {"id","name","restricted",["access_rules"]} or NULL */
	bool is_domain;
} resolved;

static void res_clear(resolved *r)
{
	json_decref(r->user);
	json_decref(r->project);
	json_decref(r->domain);
	json_decref(r->roles);
	json_decref(r->appcred);
	memset(r, 0, sizeof(*r));
}

static void res_copy(resolved *dst, const resolved *src)
{
	*dst = *src;
	json_incref(dst->user);
	json_incref(dst->project);
	json_incref(dst->domain);
	json_incref(dst->roles);
	json_incref(dst->appcred);
}

static const char *path_str(const json_t *o, const char *path)
{
	json_t *v = kjson_path(o, path);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool disabled(const json_t *o)
{
	return json_is_false(json_object_get(o, "enabled"));
}

/* A domain in token shape {"id","name"}, or NULL when missing or disabled. */
static json_t *enabled_domain(const char *id)
{
	if (!id)
		return NULL;
	_cleanup_json_ json_t *d = idstore_domain_get(id);
	if (!d || disabled(d))
		return NULL;
	return json_pack("{s:s,s:s?}", "id", id, "name", kjson_str(d, "name"));
}

/* An application credential's token: the credential must still exist for
 * this user and project and not have expired; the roles become those of
 * the credential that the user still has (none: invalid). */
static int restrict_to_appcred(const id_payload *p, resolved *out)
{
	_cleanup_json_ json_t *ac = idstore_appcred_get(p->appcred_id);
	const char *exp = kjson_str(ac, "expires_at");
	if (!ac || p->scope != ID_SCOPE_PROJECT ||
	    strcmp(kjson_str(ac, "user_id") ? kjson_str(ac, "user_id") : "", p->user_id) != 0 ||
	    strcmp(kjson_str(ac, "project_id") ? kjson_str(ac, "project_id") : "",
	           p->scope_id) != 0 ||
	    (exp && kutil_parse_iso8601(exp) <= kutil_now_us()))
		return -1;
	json_t *roles = json_array();
	size_t i, j;
	json_t *want, *have;
	json_array_foreach(json_object_get(ac, "roles"), i, want) {
		json_array_foreach(out->roles, j, have) {
			if (json_equal(json_object_get(want, "id"), json_object_get(have, "id"))) {
				json_array_append(roles, have);
				break;
			}
		}
	}
	json_decref(out->roles);
	out->roles = roles;
	if (json_array_size(roles) == 0)
		return -1;
	out->appcred = json_pack("{s:s,s:s?,s:b}", "id", p->appcred_id,
	                         "name", kjson_str(ac, "name"), "restricted",
	                         !json_is_true(json_object_get(ac, "unrestricted")));
	json_t *rules = json_object_get(ac, "access_rules");
	if (json_array_size(rules) > 0)
		json_object_set(out->appcred, "access_rules", rules);
	return 0;
}

/* Fill out from the database; on failure out may be half filled. */
static int resolve_into(const id_payload *p, resolved *out)
{
	_cleanup_json_ json_t *u = idstore_user_get(p->user_id);
	if (!u || disabled(u))
		return -1;
	_cleanup_json_ json_t *udom = enabled_domain(kjson_str(u, "domain_id"));
	if (!udom)
		return -1;
	json_t *pea = json_object_get(u, "password_expires_at");
	out->user = json_pack("{s:s,s:s?,s:O,s:O}", "id", p->user_id, "name", kjson_str(u, "name"),
	                      "domain", udom, "password_expires_at", pea ? pea : json_null());
	const char *project_id = NULL, *domain_id = NULL;
	if (p->scope == ID_SCOPE_PROJECT) {
		_cleanup_json_ json_t *pr = idstore_project_get(p->scope_id);
		if (!pr || disabled(pr))
			return -1;
		const char *pdid = kjson_str(pr, "domain_id");
		_cleanup_json_ json_t *pdom = pdid ? enabled_domain(pdid)
			/* a project acting as a domain has no domain of its own */
			: json_pack("{s:s,s:s?}", "id", p->scope_id, "name", kjson_str(pr, "name"));
		if (!pdom)
			return -1;
		out->project = json_pack("{s:s,s:s?,s:O}", "id", p->scope_id,
		                         "name", kjson_str(pr, "name"), "domain", pdom);
		out->is_domain = json_is_true(json_object_get(pr, "is_domain"));
		project_id = p->scope_id;
	} else if (p->scope == ID_SCOPE_DOMAIN) {
		if (!(out->domain = enabled_domain(p->scope_id)))
			return -1;
		domain_id = p->scope_id;
	}
	out->roles = json_array();
	if (p->scope != ID_SCOPE_UNSCOPED) {
		_cleanup_json_ json_t *roles = idstore_effective_roles(
			p->user_id, project_id, domain_id, p->scope == ID_SCOPE_SYSTEM);
		size_t i;
		json_t *role;
		json_array_foreach(roles, i, role) {
			const char *rid = kjson_str(role, "id"), *rname = kjson_str(role, "name");
			if (!rid || !rname || kjson_str(role, "domain_id"))
				continue;       /* domain-specific roles only imply, never appear */
			json_array_append_new(out->roles, json_pack("{s:s,s:s}", "id", rid,
			                                             "name", rname));
		}
		if (json_array_size(out->roles) == 0)
			return -1;      /* no role on the scope */
	}
	if (p->appcred_id[0] && restrict_to_appcred(p, out) != 0)
		return -1;
	return out->user && out->roles && (p->scope != ID_SCOPE_PROJECT || out->project) ? 0 : -1;
}

static int resolve_fresh(const id_payload *p, resolved *out)
{
	memset(out, 0, sizeof(*out));
	if (resolve_into(p, out) == 0)
		return 0;
	res_clear(out);
	return -1;
}

/* The resolution cache: direct-mapped, striped locks. */
#define CACHE_SLOTS 1024
#define CACHE_STRIPES 32

typedef struct centry {
	char *key;
	uint64_t gen;
	int64_t at_us;
	resolved res;
} centry;

static centry cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu[CACHE_STRIPES] = {
	[0 ... CACHE_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER
};

static char *cache_key(const id_payload *p, size_t *slot)
{
	char *k = NULL;
	if (asprintf(&k, "%s/%d/%s/%s", p->user_id, p->scope, p->scope_id, p->appcred_id) < 0)
		abort();
	uint32_t h = 2166136261u;
	for (const char *c = k; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	*slot = h % CACHE_SLOTS;
	return k;
}

static bool cache_get(const char *key, size_t slot, resolved *out)
{
	bool hit = false;
	uint64_t gen = atomic_load(&cache_gen);
	int64_t now = kutil_now_us();
	pthread_mutex_t *mu = &cache_mu[slot % CACHE_STRIPES];
	pthread_mutex_lock(mu);
	centry *e = &cache[slot];
	if (e->key && strcmp(e->key, key) == 0 && e->gen == gen && now - e->at_us < TTL_US) {
		res_copy(out, &e->res);
		hit = true;
	}
	pthread_mutex_unlock(mu);
	return hit;
}

static void cache_put(const char *key, size_t slot, uint64_t gen, int64_t at, const resolved *r)
{
	char *k = strdup(key);
	if (!k)
		abort();
	resolved old;
	char *old_key;
	pthread_mutex_t *mu = &cache_mu[slot % CACHE_STRIPES];
	pthread_mutex_lock(mu);
	centry *e = &cache[slot];
	old = e->res;
	old_key = e->key;
	e->key = k;
	e->gen = gen;
	e->at_us = at;
	res_copy(&e->res, r);
	pthread_mutex_unlock(mu);
	free(old_key);
	res_clear(&old);
}

static int resolve(const id_payload *p, bool use_cache, resolved *out)
{
	size_t slot;
	_cleanup_free_ char *key = cache_key(p, &slot);
	if (use_cache && cache_get(key, slot, out))
		return 0;
	/* tag with the generation seen before reading, so a concurrent change wins */
	uint64_t gen = atomic_load(&cache_gen);
	int64_t at = kutil_now_us();
	if (resolve_fresh(p, out) != 0)
		return -1;
	cache_put(key, slot, gen, at, out);
	return 0;
}

/* The catalog, cached the same way. */
static pthread_mutex_t cat_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *cat_cached;
static bool cat_filtered;     /* some project has OS-EP-FILTER associations */
static uint64_t cat_gen;
static int64_t cat_at;

/* The catalog for a token (project_id: its project, for OS-EP-FILTER). */
static json_t *catalog(bool fresh, const char *project_id)
{
	uint64_t gen = atomic_load(&cache_gen);
	int64_t now = kutil_now_us();
	json_t *c = NULL;
	bool filtered = false;
	if (!fresh) {
		pthread_mutex_lock(&cat_mu);
		if (cat_cached && cat_gen == gen && now - cat_at < TTL_US) {
			c = json_incref(cat_cached);
			filtered = cat_filtered;
		}
		pthread_mutex_unlock(&cat_mu);
	}
	if (!c) {
		c = idstore_catalog();
		if (!c)
			return json_array();
		filtered = idstore_epfilter_any();
		pthread_mutex_lock(&cat_mu);
		json_t *old = cat_cached;
		cat_cached = json_incref(c);
		cat_filtered = filtered;
		cat_gen = gen;
		cat_at = now;
		pthread_mutex_unlock(&cat_mu);
		json_decref(old);
	}
	json_t *f = filtered && project_id ? idstore_catalog_filtered(c, project_id) : NULL;
	if (f) {
		json_decref(c);
		return f;
	}
	return c;
}

/* ---- rendering ---- */

static json_t *iso(int64_t us)
{
	char buf[32];
	kutil_iso8601_us(us, buf);
	return json_string(buf);
}

static json_t *methods_json(unsigned bits)
{
	json_t *a = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
		if (bits & (1u << i))
			json_array_append_new(a, json_string(method_names[i]));
	return a;
}

static json_t *render(kpool *pool, const id_payload *p, int64_t issued_at_us,
                      const resolved *res, bool with_catalog, bool fresh)
{
	json_t *t = json_object();
	json_object_set_new(t, "methods", methods_json(p->methods));
	json_object_set(t, "user", res->user);
	json_t *audit = json_array();
	for (int a = 0; a < p->naudit; a++)
		json_array_append_new(audit, json_string(audit_str(pool, p->audit_ids[a])));
	json_object_set_new(t, "audit_ids", audit);
	json_object_set_new(t, "expires_at", iso(p->expires_at_s * 1000000));
	json_object_set_new(t, "issued_at", iso(issued_at_us));
	if (p->scope == ID_SCOPE_PROJECT) {
		json_object_set(t, "project", res->project);
		json_object_set_new(t, "is_domain", json_boolean(res->is_domain));
	} else if (p->scope == ID_SCOPE_DOMAIN) {
		json_object_set(t, "domain", res->domain);
	} else if (p->scope == ID_SCOPE_SYSTEM) {
		json_object_set_new(t, "system", json_pack("{s:b}", "all", 1));
	}
	if (p->scope != ID_SCOPE_UNSCOPED) {
		json_object_set(t, "roles", res->roles);
		if (with_catalog)
			json_object_set_new(t, "catalog",
			                    catalog(fresh, p->scope == ID_SCOPE_PROJECT
			                                   ? p->scope_id : NULL));
	}
	if (res->appcred)
		json_object_set(t, "application_credential", res->appcred);
	return json_pack("{s:o}", "token", t);
}

/* The request context, pointing into JSON that the pool keeps alive. */
static kctx *make_ctx(kpool *pool, const char *token, const id_payload *p,
                      int64_t issued_at_us, resolved *res)
{
	kctx *c = kpool_alloc(pool, sizeof(*c));
	c->token = kpool_strdup(pool, token);
	c->user_id = path_str(res->user, "id");
	c->user_name = path_str(res->user, "name");
	c->user_domain_id = path_str(res->user, "domain.id");
	c->user_domain_name = path_str(res->user, "domain.name");
	if (res->project) {
		c->project_id = path_str(res->project, "id");
		c->project_name = path_str(res->project, "name");
		c->project_domain_id = path_str(res->project, "domain.id");
		c->project_domain_name = path_str(res->project, "domain.name");
	}
	if (res->domain) {
		c->domain_id = path_str(res->domain, "id");
		c->domain_name = path_str(res->domain, "name");
	}
	c->system_scope = p->scope == ID_SCOPE_SYSTEM;
	size_t nroles = json_array_size(res->roles);
	c->roles = kpool_alloc(pool, (nroles + 1) * sizeof(char *));
	c->role_ids = kpool_alloc(pool, (nroles + 1) * sizeof(char *));
	for (size_t i = 0; i < nroles; i++) {
		json_t *role = json_array_get(res->roles, i);
		c->roles[i] = kjson_str(role, "name");
		c->role_ids[i] = kjson_str(role, "id");
	}
	c->nroles = nroles;
	c->expires_at_us = p->expires_at_s * 1000000;
	c->issued_at_us = issued_at_us;
	c->audit_id = audit_str(pool, p->audit_ids[0]);
	c->methods = kpool_alloc(pool, (ARRAY_SIZE(method_names) + 1) * sizeof(char *));
	for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
		if (p->methods & (1u << i))
			c->methods[c->nmethods++] = method_names[i];
	/* hand the JSON to the pool: the strings above live as long as the request */
	kpool_json(pool, res->user);
	if (res->project)
		kpool_json(pool, res->project);
	if (res->domain)
		kpool_json(pool, res->domain);
	kpool_json(pool, res->roles);
	if (res->appcred)
		kpool_json(pool, res->appcred);
	memset(res, 0, sizeof(*res));
	return c;
}

/* ---- issue and validate ---- */

static void fill_scope(id_payload *p, const id_scope *s)
{
	if (s->project_id) {
		p->scope = ID_SCOPE_PROJECT;
		snprintf(p->scope_id, sizeof(p->scope_id), "%s", s->project_id);
	} else if (s->domain_id) {
		p->scope = ID_SCOPE_DOMAIN;
		snprintf(p->scope_id, sizeof(p->scope_id), "%s", s->domain_id);
	} else if (s->system) {
		p->scope = ID_SCOPE_SYSTEM;
	} else {
		p->scope = ID_SCOPE_UNSCOPED;
	}
}

char *idtoken_issue(kpool *pool, const id_issue *in, json_t **body, int *status,
                    const char **msg)
{
	static const char internal[] =
		"An unexpected error prevented the server from fulfilling your request.";
	if (body)
		*body = NULL;
	*status = 401;
	*msg = UNAUTHORIZED;
	if (!in->user_id || strlen(in->user_id) > ID_MAX_ID ||
	    (in->scope.project_id && strlen(in->scope.project_id) > ID_MAX_ID) ||
	    (in->scope.domain_id && strlen(in->scope.domain_id) > ID_MAX_ID))
		return NULL;

	id_payload p = { 0 };
	snprintf(p.user_id, sizeof(p.user_id), "%s", in->user_id);
	fill_scope(&p, &in->scope);
	p.methods = in->methods;
	if (in->appcred_id) {
		if (strlen(in->appcred_id) > ID_MAX_ID)
			return NULL;
		snprintf(p.appcred_id, sizeof(p.appcred_id), "%s", in->appcred_id);
		p.methods |= APPCRED_BIT;
	} else if (p.methods & APPCRED_BIT) {
		return NULL;
	}
	int64_t at = in->auth_at_us > 0 ? in->auth_at_us : kutil_now_us();
	int64_t ts = at / 1000000;
	p.issued_us = (int32_t)(at % 1000000);
	p.expires_at_s = in->expires_at_s > 0 ? in->expires_at_s : ts + token_expiration();
	if (in->not_after_s > 0 && p.expires_at_s > in->not_after_s)
		p.expires_at_s = in->not_after_s;
	kutil_random(p.audit_ids[0], 16);
	p.naudit = 1;
	if (in->parent_audit_id) {
		unsigned char raw[24];
		if (kutil_b64url_decode(in->parent_audit_id, raw, sizeof(raw)) == 16) {
			memcpy(p.audit_ids[1], raw, 16);
			p.naudit = 2;
		}
	}

	resolved res;
	if (resolve(&p, false, &res) != 0)
		return NULL;      /* gone, disabled, or no role on the scope: 401 */
	unsigned char buf[MAX_PAYLOAD];
	long n = idtoken_payload_encode(&p, buf, sizeof(buf));
	char *tok = n > 0 ? idfernet_encrypt_at(buf, (size_t)n, ts) : NULL;
	if (!tok) {
		klog_error("identity", "cannot issue a token for user %s (no Fernet keys?)",
		           p.user_id);
		res_clear(&res);
		*status = 500;
		*msg = internal;
		return NULL;
	}
	if (body)
		*body = render(pool, &p, at, &res, !in->nocatalog, true);
	res_clear(&res);
	*status = 0;
	*msg = NULL;
	return tok;
}

/* rules_ok: may the token carry application credential access rules?
 * Not for the in-process validator: the Kumo services don't enforce them. */
static int check(kpool *pool, const char *token, bool allow_expired, bool with_catalog,
                 bool rules_ok, kctx **out, json_t **body)
{
	*out = NULL;
	if (body)
		*body = NULL;
	if (!token || !*token)
		return -1;
	unsigned char buf[MAX_PAYLOAD];
	int64_t ts;
	long n = idfernet_decrypt(token, buf, sizeof(buf), &ts);
	id_payload p;
	if (n < 0 || idtoken_payload_decode(buf, (size_t)n, &p) != 0 || ts < 0 || ts >= MAX_TIME_S)
		return -1;
	int64_t issued_at = ts * 1000000 + p.issued_us;
	int64_t window = allow_expired ? expired_window() : 0;
	if (window > MAX_TIME_S)
		window = MAX_TIME_S;
	if (kutil_now_us() >= (p.expires_at_s + window) * 1000000)
		return -1;
	if (rev_refresh() != 0)
		return -1;
	resolved res;
	if (resolve(&p, true, &res) != 0)
		return -1;
	tvalues tv = {
		.user_id = p.user_id,
		.project_id = p.scope == ID_SCOPE_PROJECT ? p.scope_id : NULL,
		.audit_id = audit_str(pool, p.audit_ids[0]),
		.user_domain_id = path_str(res.user, "domain.id"),
		.scope_domain_id = res.project ? path_str(res.project, "domain.id")
		                 : res.domain ? path_str(res.domain, "id") : NULL,
		.issued_at_us = issued_at,
	};
	if (is_revoked(&tv) ||
	    (!rules_ok && res.appcred && json_object_get(res.appcred, "access_rules"))) {
		res_clear(&res);
		return -1;
	}
	if (body)
		*body = render(pool, &p, issued_at, &res, with_catalog, false);
	*out = make_ctx(pool, token, &p, issued_at, &res);
	return 0;
}

int idtoken_validate_full(kpool *pool, const char *token, bool allow_expired, bool catalog_too,
                          kctx **out, json_t **body)
{
	return check(pool, token, allow_expired, catalog_too, true, out, body) == 0 ? 0 : 404;
}

const char *idtoken_appcred_id(kpool *pool, const kctx *ctx)
{
	bool ac = false;
	for (size_t i = 0; ctx && i < ctx->nmethods; i++)
		ac = ac || strcmp(ctx->methods[i], "application_credential") == 0;
	if (!ac || !ctx->token)
		return NULL;
	unsigned char buf[MAX_PAYLOAD];
	long n = idfernet_decrypt(ctx->token, buf, sizeof(buf), NULL);
	id_payload p;
	if (n < 0 || idtoken_payload_decode(buf, (size_t)n, &p) != 0 || !p.appcred_id[0])
		return NULL;
	return kpool_strdup(pool, p.appcred_id);
}

int idtoken_validate(kpool *pool, const char *token, kctx **out)
{
	return check(pool, token, false, false, false, out, NULL) == 0 ? 0 : 401;
}

/* ---- OS-REVOKE ---- */

json_t *idtoken_revoke_events(int64_t since_us)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT user_id, project_id, domain_id, audit_id, issued_before, revoked_at "
		"FROM revocation_event WHERE revoked_at > ? ORDER BY revoked_at, id");
	if (!st)
		return NULL;
	kstmt_bind_int(st, 1, since_us);
	static const char *const keys[] = { "user_id", "project_id", "domain_id", "audit_id" };
	json_t *out = json_array();
	int rc;
	while ((rc = kstmt_step(st)) == KDB_ROW) {
		json_t *e = json_object();
		for (int i = 0; i < 4; i++)
			if (kstmt_text(st, i))
				json_object_set_new(e, keys[i], json_string(kstmt_text(st, i)));
		json_object_set_new(e, "issued_before", iso(kstmt_int(st, 4)));
		json_object_set_new(e, "revoked_at", iso(kstmt_int(st, 5)));
		json_array_append_new(out, e);
	}
	if (rc != KDB_DONE) {
		json_decref(out);
		return NULL;
	}
	return out;
}
