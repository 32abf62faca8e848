/*
 * conf.c - INI configuration (see conf.h).
 *
 * The file is small and read once, so entries are kept in a flat array and
 * looked up linearly: simple and plenty fast for a few hundred keys.
 * Section and key names are case-sensitive except "DEFAULT"/"default".
 * A value may be quoted with "..." to keep leading/trailing spaces.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

kconf *kumo_conf;

struct kentry {
	char *section, *key, *value;
};

struct kconf {
	struct kentry *v;
	size_t n, cap;
};

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool is_default(const char *section)
{
	return strcasecmp(section, "DEFAULT") == 0;
}

void kconf_set(kconf *c, const char *section, const char *key, const char *value)
{
	const char *sec = is_default(section) ? "DEFAULT" : section;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->v[i].section, sec) == 0 && strcmp(c->v[i].key, key) == 0) {
			free(c->v[i].value);
			c->v[i].value = strdup(value);
			return;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		if (!c->v)
			abort();
	}
	c->v[c->n].section = strdup(sec);
	c->v[c->n].key = strdup(key);
	c->v[c->n].value = strdup(value);
	c->n++;
}

kconf *kconf_parse(const char *text, char *err, size_t errlen)
{
	kconf *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	_cleanup_free_ char *buf = strdup(text ? text : "");
	char *save = NULL, section[128] = "DEFAULT";
	int lineno = 0;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');
			if (!e || e == s + 1 || (size_t)(e - s - 1) >= sizeof(section)) {
				snprintf(err, errlen, "line %d: bad section header", lineno);
				kconf_free(c);
				return NULL;
			}
			*e = '\0';
			snprintf(section, sizeof(section), "%s", trim(s + 1));
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "line %d: expected key = value", lineno);
			kconf_free(c);
			return NULL;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		size_t vl = strlen(val);
		if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
			val[vl - 1] = '\0';
			val++;
		}
		if (*key == '\0') {
			snprintf(err, errlen, "line %d: empty key", lineno);
			kconf_free(c);
			return NULL;
		}
		kconf_set(c, section, key, val);
	}
	return c;
}

kconf *kconf_load(const char *path, bool must_exist, char *err, size_t errlen)
{
	if (!path)
		return kconf_parse("", err, errlen);
	_cleanup_free_ char *text = kutil_read_file(path, NULL);
	if (!text) {
		if (errno == ENOENT && !must_exist)
			return kconf_parse("", err, errlen);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char inner[200] = "";
	kconf *c = kconf_parse(text, inner, sizeof(inner));
	if (!c)
		snprintf(err, errlen, "%s: %s", path, inner);
	return c;
}

void kconf_free(kconf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].section);
		free(c->v[i].key);
		free(c->v[i].value);
	}
	free(c->v);
	free(c);
}

static const char *lookup(const kconf *c, const char *section, const char *key)
{
	if (!c)
		return NULL;
	const char *sec = is_default(section) ? "DEFAULT" : section;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].section, sec) == 0 && strcmp(c->v[i].key, key) == 0)
			return c->v[i].value;
	return NULL;
}

const char *kconf_get(const kconf *c, const char *section, const char *key, const char *def)
{
	const char *v = lookup(c, section, key);
	if (!v && !is_default(section))
		v = lookup(c, "DEFAULT", key);
	return v ? v : def;
}

long kconf_get_int(const kconf *c, const char *section, const char *key, long def)
{
	const char *v = kconf_get(c, section, key, NULL);
	if (!v || !*v)
		return def;
	char *end;
	errno = 0;
	long r = strtol(v, &end, 10);
	return (errno || *trim(end) != '\0') ? def : r;
}

bool kconf_get_bool(const kconf *c, const char *section, const char *key, bool def)
{
	const char *v = kconf_get(c, section, key, NULL);
	if (!v || !*v)
		return def;
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
		return true;
	if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"))
		return false;
	return def;
}
