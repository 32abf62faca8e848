/*
 * policy.c - oslo.policy's rule language: tokenizer, parser, evaluator.
 *
 * A rule's text is compiled once into a small tree of nodes and evaluated
 * for every request.  The three stages mirror oslo.policy (_parser.py and
 * _checks.py) so that policy files written for OpenStack mean the same here:
 *
 *   Tokenizer.  The text is split on whitespace.  Leading '(' and trailing
 *   ')' of each piece are tokens of their own (a check like
 *   "%(target.id)s" keeps its inner parentheses); "and", "or", "not" are
 *   operators in any case; a piece wrapped in quotes is a bare string, which
 *   never forms a valid rule.  Everything else is a check.
 *
 *   Parser.  Recursive descent with oslo's precedence, not > and > or:
 *       expr  := conj ("or" conj)*
 *       conj  := unary ("and" unary)*
 *       unary := "not" unary | "(" expr ")" | check
 *   "and"/"or" nodes are n-ary (children linked as siblings), so long
 *   chains do not make deep trees.  oslo silently turns a rule it cannot
 *   parse into "deny"; here a parse error is reported, so typos in defaults
 *   or policy files are caught at load time.
 *
 *   Checks.  "@" always, "!" never, role:<name> (case-insensitive against
 *   creds.roles), rule:<name> (another rule; unknown = deny), http(s): (not
 *   supported: deny), and the generic <kind>:<match>.  The match may embed
 *   %(key)s substitutions from the target (the whole dotted key is tried as a
 *   flat member first, as Keystone flattens its targets, then the dots are
 *   walked).  The kind is either a Python literal ('Member', True, 42) whose
 *   str() is compared with the match, or a dotted path into the credentials
 *   where a list matches when any element does (so "roles:admin" works).
 *   Values are compared as Python's str() would print them ("True", "None").
 *   Anything missing evaluates to false, never to an error.
 *
 * Bounds: rule text length, parser nesting, rule:-reference depth and a
 * budget of node visits per check.  Exceeding either evaluation bound (a
 * rule referring to itself, an exponential fan-out of references) denies the
 * whole check instead of hanging or recursing without end.
 *
 * The rule table is an open-addressing hash map of compiled rules.  It is
 * read-only during kpolicy_check (safe from many threads); kpolicy_set and
 * kpolicy_load_file must not run concurrently with checks.
 */
#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "log.h"
#include "util.h"

#define MAX_RULE_LEN 8192        /* bytes of rule text */
#define MAX_PARSE_DEPTH 64       /* nested parentheses / "not" */
#define MAX_RULE_DEPTH 32        /* rule: references followed during a check */
#define MAX_PATH_DEPTH 32        /* dotted segments walked in creds */
#define EVAL_BUDGET 100000       /* node visits per kpolicy_check */

enum ntype { N_TRUE, N_FALSE, N_AND, N_OR, N_NOT, N_ROLE, N_RULE, N_GENERIC };

struct pnode {
	enum ntype type;
	int child;               /* first operand (and/or/not), -1 = none */
	int next;                /* next sibling operand, -1 = none */
	const char *kind;        /* generic: credential path (NULL with lit) */
	const char *lit;         /* generic: str() of a literal left side */
	const char *match;       /* role/rule/generic right side */
	bool subst;              /* match contains %(...)s or %% */
};

struct prule {
	char *name;
	char *buf;               /* the rule text, cut into NUL-terminated tokens */
	struct pnode *nodes;
	int root;
};

struct kpolicy {
	struct prule **slots;    /* open addressing, NULL = empty */
	size_t cap, count;       /* cap is a power of two */
};

static void seterr(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- tokens */

enum ttype { T_LPAREN, T_RPAREN, T_AND, T_OR, T_NOT, T_CHECK, T_STRING };

struct tok {
	enum ttype type;
	char *text;              /* T_CHECK / T_STRING: NUL-terminated in buf */
};

static bool py_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Cut buf into tokens (oslo's _parse_tokenize).  toks has room for
 * 2 * strlen(buf) + 1 entries, enough for any input. */
static int tokenize(char *buf, struct tok *toks)
{
	int n = 0;
	char *s = buf;
	while (*s) {
		while (py_space(*s))
			s++;
		if (!*s)
			break;
		char *e = s;
		while (*e && !py_space(*e))
			e++;
		char *after = *e ? e + 1 : e;
		*e = '\0';

		while (*s == '(') {
			toks[n++] = (struct tok){ T_LPAREN, NULL };
			s++;
		}
		size_t len = strlen(s);
		if (len == 0) {
			s = after;
			continue;
		}
		if (len >= 2 && (s[0] == '"' || s[0] == '\'') && s[len - 1] == s[0]) {
			s[len - 1] = '\0';
			toks[n++] = (struct tok){ T_STRING, s + 1 };
			s = after;
			continue;
		}
		size_t clean = len;
		while (clean > 0 && s[clean - 1] == ')')
			clean--;
		size_t trail = len - clean;
		s[clean] = '\0';
		if (clean > 0) {
			if (strcasecmp(s, "and") == 0)
				toks[n++] = (struct tok){ T_AND, NULL };
			else if (strcasecmp(s, "or") == 0)
				toks[n++] = (struct tok){ T_OR, NULL };
			else if (strcasecmp(s, "not") == 0)
				toks[n++] = (struct tok){ T_NOT, NULL };
			else
				toks[n++] = (struct tok){ T_CHECK, s };
		}
		for (size_t i = 0; i < trail; i++)
			toks[n++] = (struct tok){ T_RPAREN, NULL };
		s = after;
	}
	return n;
}

/* ---------------------------------------------------------------- parser */

struct parser {
	struct tok *toks;
	int ntoks, pos;
	struct pnode *nodes;
	int nnodes;
	int depth;
	char *err;
	size_t errlen;
};

static int new_node(struct parser *p, enum ntype type)
{
	struct pnode *nd = &p->nodes[p->nnodes];
	*nd = (struct pnode){ .type = type, .child = -1, .next = -1 };
	return p->nnodes++;
}

static const char *tok_desc(const struct tok *t)
{
	switch (t->type) {
	case T_LPAREN: return "'('";
	case T_RPAREN: return "')'";
	case T_AND: return "'and'";
	case T_OR: return "'or'";
	case T_NOT: return "'not'";
	case T_STRING: return "a quoted string";
	case T_CHECK: return "a check";
	}
	return "?";
}

/* A Python literal as the left side of a generic check: its str() form is
 * stored in place (the text only shrinks), or NULL when s is no literal. */
static const char *py_literal(char *s)
{
	size_t len = strlen(s);
	if (strcmp(s, "True") == 0 || strcmp(s, "False") == 0 || strcmp(s, "None") == 0)
		return s;
	if (len >= 2 && (s[0] == '\'' || s[0] == '"') && s[len - 1] == s[0]) {
		char q = s[0];
		char *out = s;
		for (size_t i = 1; i < len - 1; i++) {
			char c = s[i];
			if (c == q)
				return NULL;            /* 'a'b' is no single literal */
			if (c == '\\') {
				if (i + 1 >= len - 1)
					return NULL;
				c = s[++i];
				switch (c) {
				case 'n': c = '\n'; break;
				case 't': c = '\t'; break;
				case 'r': c = '\r'; break;
				case '0': return NULL;  /* NUL inside: not comparable */
				case '\\': case '\'': case '"': break;
				default: *out++ = '\\'; break;    /* Python keeps unknown escapes */
				}
			}
			*out++ = c;
		}
		*out = '\0';
		return s;
	}
	/* decimal integers: [+-]digits without leading zeros ("0" itself ok) */
	const char *d = s;
	bool neg = false;
	if (*d == '+' || *d == '-')
		neg = *d++ == '-';
	if (!*d)
		return NULL;
	for (const char *q = d; *q; q++)
		if (!isdigit((unsigned char)*q))
			return NULL;
	if (d[0] == '0' && d[1])
		return NULL;
	if (strcmp(d, "0") == 0)
		neg = false;
	size_t dl = strlen(d);
	if (neg) {
		s[0] = '-';
		memmove(s + 1, d, dl + 1);
	} else {
		memmove(s, d, dl + 1);
	}
	return s;
}

/* The match side may only use %(key)s and %%. */
static bool check_format(const char *m, bool *subst)
{
	*subst = false;
	for (const char *c = m; *c; c++) {
		if (*c != '%')
			continue;
		*subst = true;
		if (c[1] == '%') {
			c++;
			continue;
		}
		if (c[1] != '(')
			return false;
		const char *close = strchr(c + 2, ')');
		if (!close || close[1] != 's')
			return false;
		c = close + 1;
	}
	return true;
}

static int parse_check(struct parser *p, char *s)
{
	if (strcmp(s, "@") == 0)
		return new_node(p, N_TRUE);
	if (strcmp(s, "!") == 0)
		return new_node(p, N_FALSE);
	char *colon = strchr(s, ':');
	if (!colon) {
		seterr(p->err, p->errlen, "malformed check '%.64s' (expected kind:match)", s);
		return -1;
	}
	if (colon == s) {
		seterr(p->err, p->errlen, "check '%.64s' has an empty kind", s);
		return -1;
	}
	*colon = '\0';
	char *kind = s, *match = colon + 1;
	bool subst;
	if (!check_format(match, &subst)) {
		seterr(p->err, p->errlen, "bad substitution in '%.64s' (only %%(key)s is allowed)",
		       match);
		return -1;
	}
	int i;
	if (strcmp(kind, "role") == 0) {
		i = new_node(p, N_ROLE);
	} else if (strcmp(kind, "rule") == 0) {
		i = new_node(p, N_RULE);
		subst = false;           /* rule names are taken literally */
	} else if (strcmp(kind, "http") == 0 || strcmp(kind, "https") == 0) {
		return new_node(p, N_FALSE);
	} else {
		i = new_node(p, N_GENERIC);
		p->nodes[i].lit = py_literal(kind);
		if (!p->nodes[i].lit)
			p->nodes[i].kind = kind;
	}
	p->nodes[i].match = match;
	p->nodes[i].subst = subst;
	return i;
}

static int parse_or(struct parser *p);

static int parse_unary(struct parser *p)
{
	if (p->pos >= p->ntoks) {
		seterr(p->err, p->errlen, "unexpected end of rule");
		return -1;
	}
	if (++p->depth > MAX_PARSE_DEPTH) {
		seterr(p->err, p->errlen, "rule nested too deeply");
		return -1;
	}
	struct tok *t = &p->toks[p->pos];
	int r = -1;
	switch (t->type) {
	case T_NOT: {
		p->pos++;
		int c = parse_unary(p);
		if (c < 0)
			break;
		r = new_node(p, N_NOT);
		p->nodes[r].child = c;
		break;
	}
	case T_LPAREN:
		p->pos++;
		r = parse_or(p);
		if (r < 0)
			break;
		if (p->pos >= p->ntoks || p->toks[p->pos].type != T_RPAREN) {
			seterr(p->err, p->errlen, "missing ')'");
			r = -1;
			break;
		}
		p->pos++;
		break;
	case T_CHECK:
		p->pos++;
		r = parse_check(p, t->text);
		break;
	default:
		seterr(p->err, p->errlen, "unexpected %s at token %d", tok_desc(t), p->pos + 1);
		break;
	}
	p->depth--;
	return r;
}

/* One n-ary level: operands of `sub` separated by `op`. */
static int parse_level(struct parser *p, enum ttype op, enum ntype type,
		       int (*sub)(struct parser *))
{
	int first = sub(p);
	if (first < 0)
		return -1;
	if (p->pos >= p->ntoks || p->toks[p->pos].type != op)
		return first;
	int n = new_node(p, type);
	p->nodes[n].child = first;
	int last = first;
	while (p->pos < p->ntoks && p->toks[p->pos].type == op) {
		p->pos++;
		int c = sub(p);
		if (c < 0)
			return -1;
		p->nodes[last].next = c;
		last = c;
	}
	return n;
}

static int parse_and(struct parser *p)
{
	return parse_level(p, T_AND, N_AND, parse_unary);
}

static int parse_or(struct parser *p)
{
	return parse_level(p, T_OR, N_OR, parse_and);
}

static void prule_free(struct prule *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->buf);
	free(r->nodes);
	free(r);
}

static void prule_freep(struct prule **r) { prule_free(*r); }

/* Compile `text` into a rule called `name`; NULL and err on error. */
static struct prule *compile(const char *name, const char *text, char *err, size_t errlen)
{
	size_t len = strlen(text);
	if (len > MAX_RULE_LEN) {
		seterr(err, errlen, "rule '%.64s' is too long (%zu bytes, max %d)", name, len,
		       MAX_RULE_LEN);
		return NULL;
	}
	_cleanup_(prule_freep) struct prule *r = calloc(1, sizeof(*r));
	_cleanup_free_ struct tok *toks = calloc(2 * len + 1, sizeof(*toks));
	if (!r || !toks)
		abort();
	r->name = strdup(name);
	r->buf = strdup(text);
	r->nodes = calloc(2 * len + 2, sizeof(*r->nodes));
	if (!r->name || !r->buf || !r->nodes)
		abort();

	char msg[160] = "";
	struct parser p = { .toks = toks, .nodes = r->nodes, .err = msg, .errlen = sizeof(msg) };
	p.ntoks = tokenize(r->buf, toks);
	if (p.ntoks == 0) {
		r->root = new_node(&p, N_TRUE);       /* "" and blanks: always */
		return TAKE_PTR(r);
	}
	r->root = parse_or(&p);
	if (r->root >= 0 && p.pos < p.ntoks) {
		seterr(msg, sizeof(msg), "unexpected %s at token %d", tok_desc(&toks[p.pos]),
		       p.pos + 1);
		r->root = -1;
	}
	if (r->root < 0) {
		seterr(err, errlen, "rule '%.64s': %s", name, msg);
		return NULL;
	}
	return TAKE_PTR(r);
}

/* ------------------------------------------------------------ evaluation */

/* A growable string with inline storage (no malloc for short values). */
struct sbuf {
	char *s;
	size_t len, cap;
	bool heap;
	char inl[256];
};

static void sb_init(struct sbuf *b)
{
	b->s = b->inl;
	b->len = 0;
	b->cap = sizeof(b->inl);
	b->heap = false;
	b->s[0] = '\0';
}

static void sb_fini(struct sbuf *b)
{
	if (b->heap)
		free(b->s);
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *ns = b->heap ? realloc(b->s, cap) : malloc(cap);
		if (!ns)
			abort();
		if (!b->heap)
			memcpy(ns, b->s, b->len + 1);
		b->s = ns;
		b->cap = cap;
		b->heap = true;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Append Python's str() of a scalar; false for arrays/objects, which policy
 * comparisons do not support. */
static bool py_str(struct sbuf *b, const json_t *v)
{
	char tmp[64];
	switch (json_typeof(v)) {
	case JSON_STRING:
		sb_add(b, json_string_value(v), json_string_length(v));
		return true;
	case JSON_TRUE:
		sb_add(b, "True", 4);
		return true;
	case JSON_FALSE:
		sb_add(b, "False", 5);
		return true;
	case JSON_NULL:
		sb_add(b, "None", 4);
		return true;
	case JSON_INTEGER:
		snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		sb_add(b, tmp, strlen(tmp));
		return true;
	case JSON_REAL: {
		/* shortest round-trip digits, ".0" for integral values (close to repr) */
		double d = json_real_value(v);
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
		if (!strpbrk(tmp, ".eni"))
			strcat(tmp, ".0");
		sb_add(b, tmp, strlen(tmp));
		return true;
	}
	default:
		return false;
	}
}

/* Target lookup: the whole dotted key as a flat member, else walk the dots. */
static const json_t *target_get(const json_t *target, const char *key, size_t keylen)
{
	if (!json_is_object(target))
		return NULL;
	const json_t *v = json_object_getn(target, key, keylen);
	if (v)
		return v;
	const char *end = key + keylen;
	const json_t *cur = target;
	const char *seg = key;
	for (;;) {
		const char *dot = memchr(seg, '.', (size_t)(end - seg));
		const char *segend = dot ? dot : end;
		if (!json_is_object(cur))
			return NULL;
		cur = json_object_getn(cur, seg, (size_t)(segend - seg));
		if (!cur || !dot)
			return cur;
		seg = dot + 1;
	}
}

/* Python's `match % target`; false when a key is missing or unprintable. */
static bool expand(struct sbuf *out, const char *m, const json_t *target)
{
	const char *c = m;
	while (*c) {
		const char *pct = strchr(c, '%');
		if (!pct) {
			sb_add(out, c, strlen(c));
			break;
		}
		sb_add(out, c, (size_t)(pct - c));
		if (pct[1] == '%') {
			sb_add(out, "%", 1);
			c = pct + 2;
			continue;
		}
		const char *key = pct + 2;                  /* validated at parse time */
		const char *close = strchr(key, ')');
		const json_t *v = target_get(target, key, (size_t)(close - key));
		if (!v || !py_str(out, v))
			return false;
		c = close + 2;
	}
	return true;
}

static bool str_equals(const json_t *v, const char *match, size_t mlen)
{
	if (json_is_string(v))
		return json_string_length(v) == mlen &&
		       memcmp(json_string_value(v), match, mlen) == 0;
	struct sbuf b;
	sb_init(&b);
	bool eq = py_str(&b, v) && b.len == mlen && memcmp(b.s, match, mlen) == 0;
	sb_fini(&b);
	return eq;
}

/* oslo's _find_in_dict: walk `path` (dotted) into creds; a list matches when
 * any element does. */
static bool find_in(const json_t *v, const char *path, const char *match, size_t mlen,
		    int depth)
{
	if (!path)
		return str_equals(v, match, mlen);
	if (depth > MAX_PATH_DEPTH || !json_is_object(v))
		return false;
	const char *dot = strchr(path, '.');
	size_t seglen = dot ? (size_t)(dot - path) : strlen(path);
	const char *rest = dot ? dot + 1 : NULL;
	const json_t *next = json_object_getn(v, path, seglen);
	if (!next)
		return false;
	if (json_is_array(next)) {
		size_t i;
		const json_t *el;
		json_array_foreach(next, i, el)
			if (find_in(el, rest, match, mlen, depth + 1))
				return true;
		return false;
	}
	return find_in(next, rest, match, mlen, depth + 1);
}

struct evalctx {
	const kpolicy *p;
	const json_t *creds, *target;
	int depth;
	long budget;
};

static const struct prule *lookup(const kpolicy *p, const char *name);

static bool eval(struct evalctx *c, const struct prule *r, int i);

static bool mem_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return false;
	return true;
}

static bool eval_leaf(struct evalctx *c, const struct pnode *nd)
{
	struct sbuf m;
	sb_init(&m);
	const char *match = nd->match;
	size_t mlen;
	if (nd->subst) {
		if (!expand(&m, nd->match, c->target)) {
			sb_fini(&m);
			return false;
		}
		match = m.s;
		mlen = m.len;
	} else {
		mlen = strlen(match);
	}

	bool ok = false;
	if (nd->type == N_ROLE) {
		const json_t *roles = json_is_object(c->creds)
			? json_object_get(c->creds, "roles") : NULL;
		size_t i;
		const json_t *role;
		json_array_foreach(roles, i, role) {
			if (json_is_string(role) && json_string_length(role) == mlen &&
			    mem_caseeq(json_string_value(role), match, mlen)) {
				ok = true;
				break;
			}
		}
	} else if (nd->lit) {
		ok = strlen(nd->lit) == mlen && memcmp(nd->lit, match, mlen) == 0;
	} else {
		ok = find_in(c->creds, nd->kind, match, mlen, 0);
	}
	sb_fini(&m);
	return ok;
}

static bool eval(struct evalctx *c, const struct prule *r, int i)
{
	if (--c->budget < 0)
		return false;
	const struct pnode *nd = &r->nodes[i];
	switch (nd->type) {
	case N_TRUE:
		return true;
	case N_FALSE:
		return false;
	case N_NOT:
		return !eval(c, r, nd->child);
	case N_AND:
		for (int k = nd->child; k >= 0; k = r->nodes[k].next)
			if (!eval(c, r, k) || c->budget < 0)
				return false;
		return true;
	case N_OR:
		for (int k = nd->child; k >= 0; k = r->nodes[k].next)
			if (eval(c, r, k))
				return true;
		return false;
	case N_RULE: {
		const struct prule *other = lookup(c->p, nd->match);
		if (!other)
			return false;
		if (c->depth >= MAX_RULE_DEPTH) {
			c->budget = -1;          /* a cycle, most likely: deny the whole check */
			return false;
		}
		c->depth++;
		bool ok = eval(c, other, other->root);
		c->depth--;
		return ok;
	}
	case N_ROLE:
	case N_GENERIC:
		return eval_leaf(c, nd);
	}
	return false;
}

/* ------------------------------------------------------------ rule table */

static size_t hash_name(const char *s)
{
	size_t h = 1469598103934665603ULL;       /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static const struct prule *lookup(const kpolicy *p, const char *name)
{
	if (!p || !p->cap || !name)
		return NULL;
	for (size_t i = hash_name(name) & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
		const struct prule *r = p->slots[i];
		if (!r)
			return NULL;
		if (strcmp(r->name, name) == 0)
			return r;
	}
}

static void insert_slot(struct prule **slots, size_t cap, struct prule *r)
{
	size_t i = hash_name(r->name) & (cap - 1);
	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = r;
}

/* Insert or replace; takes ownership of r. */
static void put(kpolicy *p, struct prule *r)
{
	if (p->cap) {
		for (size_t i = hash_name(r->name) & (p->cap - 1); p->slots[i];
		     i = (i + 1) & (p->cap - 1)) {
			if (strcmp(p->slots[i]->name, r->name) == 0) {
				prule_free(p->slots[i]);
				p->slots[i] = r;
				return;
			}
		}
	}
	if ((p->count + 1) * 2 > p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 64;
		struct prule **ns = calloc(ncap, sizeof(*ns));
		if (!ns)
			abort();
		for (size_t i = 0; i < p->cap; i++)
			if (p->slots[i])
				insert_slot(ns, ncap, p->slots[i]);
		free(p->slots);
		p->slots = ns;
		p->cap = ncap;
	}
	insert_slot(p->slots, p->cap, r);
	p->count++;
}

kpolicy *kpolicy_new(const kpolicy_rule *defaults, size_t n, char *err, size_t errlen)
{
	kpolicy *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (kpolicy_set(p, defaults[i].name, defaults[i].rule, err, errlen) < 0) {
			kpolicy_free(p);
			return NULL;
		}
	}
	return p;
}

int kpolicy_set(kpolicy *p, const char *name, const char *rule, char *err, size_t errlen)
{
	if (!p || !name || !*name) {
		seterr(err, errlen, "policy rule without a name");
		return -1;
	}
	struct prule *r = compile(name, rule ? rule : "", err, errlen);
	if (!r)
		return -1;
	put(p, r);
	return 0;
}

void kpolicy_free(kpolicy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->cap; i++)
		prule_free(p->slots[i]);
	free(p->slots);
	free(p);
}

bool kpolicy_check(const kpolicy *p, const char *action, const json_t *creds,
		   const json_t *target)
{
	if (!p || !action)
		return false;
	const struct prule *r = lookup(p, action);
	if (!r)
		r = lookup(p, "default");
	if (!r)
		return false;
	struct evalctx c = { .p = p, .creds = creds, .target = target, .budget = EVAL_BUDGET };
	bool ok = eval(&c, r, r->root);
	if (c.budget < 0) {
		klog_warn("policy", "'%s' exceeded the evaluation limits (a rule: cycle?); denied",
		          action);
		return false;
	}
	return ok;
}

/* ------------------------------------------------------------ policy file */

/* A YAML scalar starting at *pp (quoted or plain, as a key when is_key);
 * appends it to out and advances *pp.  -1 on unsupported syntax. */
static int yaml_scalar(const char **pp, struct sbuf *out, bool is_key)
{
	const char *s = *pp;
	if (*s == '"') {
		for (s++; *s != '"'; s++) {
			if (!*s)
				return -1;
			if (*s != '\\') {
				sb_add(out, s, 1);
				continue;
			}
			char c;
			switch (*++s) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case '/': c = '/'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case ' ': c = ' '; break;
			default: return -1;
			}
			sb_add(out, &c, 1);
		}
		*pp = s + 1;
		return 0;
	}
	if (*s == '\'') {
		for (s++;; s++) {
			if (!*s)
				return -1;
			if (*s == '\'') {
				if (s[1] != '\'')
					break;
				s++;
			}
			sb_add(out, s, 1);
		}
		*pp = s + 1;
		return 0;
	}
	/* plain scalars: no flow collections, block scalars, anchors, aliases */
	if (strchr("[]{}|>&*,-?%`", *s) && !(*s == '-' && s[1] && s[1] != ' '))
		return -1;
	const char *start = s;
	const char *end = s;
	for (; *s; s++) {
		if (is_key && *s == ':' && (s[1] == '\0' || s[1] == ' ' || s[1] == '\t'))
			break;
		if (*s == '#' && s > start && (s[-1] == ' ' || s[-1] == '\t'))
			break;
		if (*s != ' ' && *s != '\t')
			end = s + 1;
	}
	sb_add(out, start, (size_t)(end - start));
	*pp = s;
	return 0;
}

static const char *skip_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Parse the simple YAML oslo writes ("name": "rule" lines) into obj. */
static int parse_yaml(char *text, json_t *obj, char *err, size_t errlen)
{
	int lineno = 0;
	char *save = NULL;
	for (char *line = text; line; line = save) {
		lineno++;
		char *nl = strchr(line, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		const char *s = skip_blank(line);
		if (!*s || *s == '#' || strcmp(s, "---") == 0 || strcmp(s, "...") == 0)
			continue;
		if (strcmp(s, "{}") == 0)
			continue;

		struct sbuf key, val;
		sb_init(&key);
		sb_init(&val);
		int rc = yaml_scalar(&s, &key, true);
		if (rc == 0) {
			s = skip_blank(s);
			rc = *s == ':' ? 0 : -1;
			s++;
		}
		if (rc == 0 && key.len == 0)
			rc = -1;
		if (rc == 0) {
			s = skip_blank(s);
			if (*s && *s != '#')
				rc = yaml_scalar(&s, &val, false);
		}
		if (rc == 0) {
			s = skip_blank(s);
			if (*s && *s != '#')
				rc = -1;
		}
		if (rc == 0)
			json_object_set_new(obj, key.s, json_string(val.s));
		sb_fini(&key);
		sb_fini(&val);
		if (rc < 0) {
			seterr(err, errlen,
			       "line %d: unsupported syntax (expected \"name\": \"rule\")", lineno);
			return -1;
		}
	}
	return 0;
}

int kpolicy_load_file(kpolicy *p, const char *path, char *err, size_t errlen)
{
	if (!p || !path) {
		seterr(err, errlen, "no policy file");
		return -1;
	}
	size_t len = 0;
	_cleanup_free_ char *text = kutil_read_file(path, &len);
	if (!text) {
		seterr(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
		return -1;
	}
	if (strlen(text) != len) {
		seterr(err, errlen, "%s: contains NUL bytes", path);
		return -1;
	}
	char *start = text;
	if ((unsigned char)start[0] == 0xEF && (unsigned char)start[1] == 0xBB &&
	    (unsigned char)start[2] == 0xBF)
		start += 3;                         /* UTF-8 byte order mark */

	_cleanup_json_ json_t *obj = NULL;
	char msg[200];
	const char *s = start;
	while (*s && isspace((unsigned char)*s))
		s++;
	if (*s == '{') {
		json_error_t jerr;
		obj = json_loads(s, 0, &jerr);   /* duplicates: last wins, as in oslo */
		if (!obj || !json_is_object(obj)) {
			seterr(err, errlen, "%s: line %d: %s", path, jerr.line,
			       obj ? "not a JSON object" : jerr.text);
			return -1;
		}
	} else {
		obj = json_object();
		if (parse_yaml(start, obj, msg, sizeof(msg)) < 0) {
			seterr(err, errlen, "%s: %s", path, msg);
			return -1;
		}
	}

	/* Compile everything first: a bad file changes nothing. */
	size_t n = json_object_size(obj), k = 0;
	_cleanup_free_ struct prule **rules = calloc(n + 1, sizeof(*rules));
	if (!rules)
		abort();
	const char *name;
	json_t *v;
	json_object_foreach(obj, name, v) {
		if (!json_is_string(v) || !*name || strlen(json_string_value(v)) !=
		    json_string_length(v)) {
			seterr(err, errlen, "%s: rule '%.64s' is not a string", path, name);
			for (size_t i = 0; i < k; i++)
				prule_free(rules[i]);
			return -1;
		}
		rules[k] = compile(name, json_string_value(v), msg, sizeof(msg));
		if (!rules[k]) {
			seterr(err, errlen, "%s: %s", path, msg);
			for (size_t i = 0; i < k; i++)
				prule_free(rules[i]);
			return -1;
		}
		k++;
	}
	for (size_t i = 0; i < k; i++)
		put(p, rules[i]);
	klog_info("policy", "loaded %zu rule(s) from %s", k, path);
	return 0;
}
