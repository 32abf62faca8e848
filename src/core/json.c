/*
 * json.c - conveniences over jansson (see json.h).
 */
#include "json.h"

#include <string.h>

const char *kjson_str(const json_t *obj, const char *key)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *member(const json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

int kjson_get_str(const json_t *obj, const char *key, const char **out)
{
	json_t *v = member(obj, key);
	if (!v)
		return KJ_MISSING;
	if (!json_is_string(v))
		return KJ_WRONG_TYPE;
	*out = json_string_value(v);
	return KJ_OK;
}

int kjson_get_bool(const json_t *obj, const char *key, bool *out)
{
	json_t *v = member(obj, key);
	if (!v)
		return KJ_MISSING;
	if (!json_is_boolean(v))
		return KJ_WRONG_TYPE;
	*out = json_is_true(v);
	return KJ_OK;
}

int kjson_get_int(const json_t *obj, const char *key, int64_t *out)
{
	json_t *v = member(obj, key);
	if (!v)
		return KJ_MISSING;
	if (!json_is_integer(v))
		return KJ_WRONG_TYPE;
	*out = json_integer_value(v);
	return KJ_OK;
}

int kjson_get_obj(const json_t *obj, const char *key, json_t **out)
{
	json_t *v = member(obj, key);
	if (!v)
		return KJ_MISSING;
	if (!json_is_object(v))
		return KJ_WRONG_TYPE;
	*out = v;
	return KJ_OK;
}

int kjson_get_arr(const json_t *obj, const char *key, json_t **out)
{
	json_t *v = member(obj, key);
	if (!v)
		return KJ_MISSING;
	if (!json_is_array(v))
		return KJ_WRONG_TYPE;
	*out = v;
	return KJ_OK;
}

json_t *kjson_path(const json_t *obj, const char *dotted)
{
	char key[256];
	const json_t *cur = obj;
	const char *p = dotted;
	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(key) || !json_is_object(cur))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		p = dot ? dot + 1 : p + n;
	}
	return (json_t *)cur;
}

char *kjson_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

void kjson_set_str_or_null(json_t *obj, const char *key, const char *value)
{
	json_object_set_new(obj, key, value ? json_string(value) : json_null());
}
