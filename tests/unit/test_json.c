/* test_json.c - jansson conveniences. */
#include "core/json.h"
#include "ktest.h"

KTEST(getters_distinguish_missing_and_wrong_type)
{
	json_t *o = json_pack("{s:s,s:b,s:i,s:n,s:{s:{s:s}},s:[]}", "name", "x", "enabled", 1,
	                      "n", 5, "nil", "auth", "identity", "method", "password", "arr");
	const char *s = NULL;
	bool b = false;
	int64_t i = 0;
	json_t *j = NULL;
	CHECK_INT(kjson_get_str(o, "name", &s), KJ_OK);
	CHECK_STR(s, "x");
	CHECK_INT(kjson_get_str(o, "enabled", &s), KJ_WRONG_TYPE);
	CHECK_INT(kjson_get_str(o, "missing", &s), KJ_MISSING);
	CHECK_INT(kjson_get_str(o, "nil", &s), KJ_MISSING);
	CHECK_INT(kjson_get_bool(o, "enabled", &b), KJ_OK);
	CHECK(b);
	CHECK_INT(kjson_get_bool(o, "name", &b), KJ_WRONG_TYPE);
	CHECK_INT(kjson_get_int(o, "n", &i), KJ_OK);
	CHECK_INT(i, 5);
	CHECK_INT(kjson_get_obj(o, "auth", &j), KJ_OK);
	CHECK_INT(kjson_get_arr(o, "arr", &j), KJ_OK);
	CHECK_INT(kjson_get_arr(o, "auth", &j), KJ_WRONG_TYPE);
	CHECK_STR(json_string_value(kjson_path(o, "auth.identity.method")), "password");
	CHECK(kjson_path(o, "auth.nope.method") == NULL);
	CHECK(kjson_path(o, "name.sub") == NULL);
	CHECK(kjson_str(NULL, "x") == NULL);
	char *d = kjson_dump(json_object_get(o, "n"));
	CHECK_STR(d, "5");
	free(d);
	kjson_set_str_or_null(o, "x", NULL);
	CHECK(json_is_null(json_object_get(o, "x")));
	json_decref(o);
}

int main(void) { return ktest_run(); }
