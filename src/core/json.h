/*
 * json.h - conveniences over jansson, the JSON library every service uses.
 *
 * Parsing is strict (no duplicate keys are rejected by jansson, but depth and
 * size are bounded by the HTTP layer).  The getters distinguish "missing"
 * from "present with the wrong type", so handlers can answer 400 precisely.
 */
#ifndef KUMO_JSON_H
#define KUMO_JSON_H

#include <jansson.h>
#include "common.h"

static inline void kjson_decrefp(json_t **j) { if (*j) json_decref(*j); }
#define _cleanup_json_ _cleanup_(kjson_decrefp)

enum kjson_get { KJ_OK = 0, KJ_MISSING = 1, KJ_WRONG_TYPE = -1 };

/* String member or NULL (missing, null, or not a string). */
const char *kjson_str(const json_t *obj, const char *key);
/* Typed getters: KJ_OK and *out set, KJ_MISSING (absent or JSON null when
 * null_ok), or KJ_WRONG_TYPE. */
int kjson_get_str(const json_t *obj, const char *key, const char **out);
int kjson_get_bool(const json_t *obj, const char *key, bool *out);
int kjson_get_int(const json_t *obj, const char *key, int64_t *out);
int kjson_get_obj(const json_t *obj, const char *key, json_t **out);
int kjson_get_arr(const json_t *obj, const char *key, json_t **out);

/* Deep path lookup: kjson_path(o, "auth.identity.password.user") */
json_t *kjson_path(const json_t *obj, const char *dotted);

/* Serialize compactly (malloc'd). */
char *kjson_dump(const json_t *j);

/* Set key only when value is not NULL: string member or null. */
void kjson_set_str_or_null(json_t *obj, const char *key, const char *value);

#endif
