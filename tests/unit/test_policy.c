/* test_policy.c - the oslo.policy rule language: parsing, precedence, checks, files. */
#include "ktest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "core/policy.h"

/* Evaluate one rule text, as action "t", against creds/target JSON texts. */
static int eval_rule(const char *rule, const char *creds_txt, const char *target_txt)
{
	char err[256] = "";
	kpolicy_rule r = { "t", rule };
	kpolicy *p = kpolicy_new(&r, 1, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "  parse error for [%s]: %s\n", rule, err);
		return -1;
	}
	json_t *creds = creds_txt ? json_loads(creds_txt, 0, NULL) : NULL;
	json_t *target = target_txt ? json_loads(target_txt, 0, NULL) : NULL;
	bool ok = kpolicy_check(p, "t", creds, target);
	json_decref(creds);
	json_decref(target);
	kpolicy_free(p);
	return ok;
}

/* 1 when the rule fails to parse (with a message). */
static int parse_fails(const char *rule)
{
	char err[256] = "";
	kpolicy_rule r = { "t", rule };
	kpolicy *p = kpolicy_new(&r, 1, err, sizeof(err));
	if (p) {
		kpolicy_free(p);
		return 0;
	}
	return err[0] != '\0';
}

static char *write_tmp(const char *content)
{
	char *path = strdup("/tmp/kumo-policy-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	size_t n = strlen(content);
	if (write(fd, content, n) != (ssize_t)n)
		abort();
	close(fd);
	return path;
}

KTEST(constants)
{
	CHECK_INT(eval_rule("@", "{}", "{}"), 1);
	CHECK_INT(eval_rule("!", "{}", "{}"), 0);
	CHECK_INT(eval_rule("", "{}", "{}"), 1);
	CHECK_INT(eval_rule("   \t ", "{}", "{}"), 1);
	CHECK_INT(eval_rule("(@)", "{}", "{}"), 1);
	CHECK_INT(eval_rule("((!))", "{}", "{}"), 0);
}

KTEST(precedence_and_binds_tighter_than_or)
{
	/* a or (b and c), never (a or b) and c */
	CHECK_INT(eval_rule("@ or ! and !", "{}", "{}"), 1);
	CHECK_INT(eval_rule("! and ! or @", "{}", "{}"), 1);
	CHECK_INT(eval_rule("! and (! or @)", "{}", "{}"), 0);
	CHECK_INT(eval_rule("(@ or !) and !", "{}", "{}"), 0);
	CHECK_INT(eval_rule("! or @ and @", "{}", "{}"), 1);
	CHECK_INT(eval_rule("! or @ and @ and !", "{}", "{}"), 0);
	CHECK_INT(eval_rule("! or @ and @ and ! or @", "{}", "{}"), 1);
	CHECK_INT(eval_rule("@ and @ and @", "{}", "{}"), 1);
	CHECK_INT(eval_rule("! or ! or ! or @", "{}", "{}"), 1);
	CHECK_INT(eval_rule("@ AND ! Or @", "{}", "{}"), 1);   /* operators in any case */
}

KTEST(not_operator)
{
	CHECK_INT(eval_rule("not !", "{}", "{}"), 1);
	CHECK_INT(eval_rule("not @", "{}", "{}"), 0);
	CHECK_INT(eval_rule("not not @", "{}", "{}"), 1);
	CHECK_INT(eval_rule("NOT !", "{}", "{}"), 1);
	/* not binds tighter than and/or */
	CHECK_INT(eval_rule("not ! and !", "{}", "{}"), 0);
	CHECK_INT(eval_rule("not @ or @", "{}", "{}"), 1);
	CHECK_INT(eval_rule("not (@ or @)", "{}", "{}"), 0);
	CHECK_INT(eval_rule("@ and not !", "{}", "{}"), 1);
	CHECK_INT(eval_rule("(not role:reader)", "{\"roles\":[\"member\"]}", "{}"), 1);
	CHECK_INT(eval_rule("not role:reader", "{\"roles\":[\"reader\"]}", "{}"), 0);
	CHECK_INT(eval_rule("user_id:%(user_id)s and not role:reader",
			    "{\"user_id\":\"u1\",\"roles\":[\"member\"]}",
			    "{\"user_id\":\"u1\"}"), 1);
}

KTEST(role_checks)
{
	const char *c = "{\"roles\":[\"Admin\",\"member\"]}";
	CHECK_INT(eval_rule("role:admin", c, "{}"), 1);
	CHECK_INT(eval_rule("role:ADMIN", c, "{}"), 1);
	CHECK_INT(eval_rule("role:member", c, "{}"), 1);
	CHECK_INT(eval_rule("role:reader", c, "{}"), 0);
	CHECK_INT(eval_rule("role:adm", c, "{}"), 0);
	CHECK_INT(eval_rule("role:", c, "{}"), 0);
	CHECK_INT(eval_rule("role:admin", "{}", "{}"), 0);               /* no roles */
	CHECK_INT(eval_rule("role:admin", "{\"roles\":\"admin\"}", "{}"), 0); /* not a list */
	CHECK_INT(eval_rule("role:admin", "{\"roles\":[1,null,{}]}", "{}"), 0);
	CHECK_INT(eval_rule("role:admin", NULL, NULL), 0);
	/* role names substituted from the target */
	CHECK_INT(eval_rule("role:%(target.role.name)s", c,
			    "{\"target.role.name\":\"MEMBER\"}"), 1);
	CHECK_INT(eval_rule("role:%(target.role.name)s", c, "{}"), 0);
	/* oslo keeps everything after the first colon: role:compute:admin */
	CHECK_INT(eval_rule("role:compute:admin", "{\"roles\":[\"compute:admin\"]}", "{}"), 1);
}

KTEST(keystone_get_user)
{
	const char *rule = "(role:reader and system_scope:all) or "
			   "(role:reader and domain_id:%(target.user.domain_id)s) or "
			   "user_id:%(target.user.id)s";
	const char *flat = "{\"target.user.domain_id\":\"d1\",\"target.user.id\":\"u9\"}";
	const char *nested = "{\"target\":{\"user\":{\"domain_id\":\"d1\",\"id\":\"u9\"}}}";

	/* system reader */
	CHECK_INT(eval_rule(rule, "{\"roles\":[\"reader\"],\"system_scope\":\"all\","
				  "\"user_id\":\"u1\"}", flat), 1);
	/* system member without reader: no */
	CHECK_INT(eval_rule(rule, "{\"roles\":[\"member\"],\"system_scope\":\"all\","
				  "\"user_id\":\"u1\"}", flat), 0);
	/* domain reader of the user's domain, flat and nested targets */
	const char *dreader = "{\"roles\":[\"reader\"],\"domain_id\":\"d1\",\"user_id\":\"u1\"}";
	CHECK_INT(eval_rule(rule, dreader, flat), 1);
	CHECK_INT(eval_rule(rule, dreader, nested), 1);
	/* domain reader of another domain */
	CHECK_INT(eval_rule(rule, "{\"roles\":[\"reader\"],\"domain_id\":\"d2\","
				  "\"user_id\":\"u1\"}", nested), 0);
	/* the user itself */
	CHECK_INT(eval_rule(rule, "{\"roles\":[],\"user_id\":\"u9\",\"project_id\":\"p\"}",
			    nested), 1);
	/* another project member */
	CHECK_INT(eval_rule(rule, "{\"roles\":[\"member\",\"reader\"],\"user_id\":\"u1\","
				  "\"project_id\":\"p\"}", flat), 0);
	/* missing target keys never match, even with empty creds */
	CHECK_INT(eval_rule(rule, "{\"roles\":[\"reader\"],\"user_id\":\"u1\"}", "{}"), 0);
	CHECK_INT(eval_rule(rule, "{}", "{}"), 0);
	CHECK_INT(eval_rule(rule, "{\"user_id\":\"u1\"}", "[1,2]"), 0);
	CHECK_INT(eval_rule(rule, "{\"user_id\":\"u1\"}", NULL), 0);
}

KTEST(keystone_admin_and_project_rules)
{
	static const kpolicy_rule defs[] = {
		{ "admin_required", "role:admin or is_admin:1" },
		{ "service_role", "role:service" },
		{ "service_or_admin", "rule:admin_required or rule:service_role" },
		{ "owner", "user_id:%(user_id)s" },
		{ "admin_or_owner", "rule:admin_required or rule:owner" },
		{ "token_subject", "user_id:%(target.token.user_id)s" },
		{ "admin_or_token_subject", "rule:admin_required or rule:token_subject" },
		{ "identity:list_projects",
		  "(role:reader and system_scope:all) or "
		  "(role:reader and domain_id:%(target.domain_id)s)" },
		{ "identity:get_project",
		  "(role:reader and system_scope:all) or "
		  "(role:reader and domain_id:%(target.project.domain_id)s) or "
		  "project_id:%(target.project.id)s" },
		{ "identity:validate_token",
		  "(role:reader and system_scope:all) or rule:service_role or "
		  "rule:token_subject" },
		{ "identity:create_user",
		  "(role:admin and system_scope:all) or "
		  "(role:admin and token.domain.id:%(target.user.domain_id)s)" },
		{ "identity:check_system_grant_for_user",
		  "(role:reader and system_scope:all) or "
		  "(role:reader and domain_id:%(target.user.domain_id)s)" },
	};
	char err[256] = "";
	kpolicy *p = kpolicy_new(defs, ARRAY_SIZE(defs), err, sizeof(err));
	CHECK(p != NULL);
	if (!p)
		return;
	json_t *admin = json_pack("{s:[s,s,s], s:s, s:s, s:b}", "roles", "admin", "member",
				  "reader", "user_id", "a1", "project_id", "p-admin",
				  "is_admin_project", 1);
	json_t *svc = json_pack("{s:[s], s:s}", "roles", "service", "user_id", "nova");
	json_t *user = json_pack("{s:[s], s:s, s:s, s:s}", "roles", "member", "user_id", "u1",
				 "project_id", "p1", "project_domain_id", "default");
	json_t *t_own = json_pack("{s:s}", "target.token.user_id", "u1");
	json_t *t_other = json_pack("{s:s}", "target.token.user_id", "u2");

	CHECK(kpolicy_check(p, "service_or_admin", admin, NULL));
	CHECK(kpolicy_check(p, "service_or_admin", svc, NULL));
	CHECK(!kpolicy_check(p, "service_or_admin", user, NULL));
	CHECK(kpolicy_check(p, "admin_or_token_subject", user, t_own));
	CHECK(!kpolicy_check(p, "admin_or_token_subject", user, t_other));
	CHECK(kpolicy_check(p, "identity:validate_token", user, t_own));
	CHECK(kpolicy_check(p, "identity:validate_token", svc, t_other));
	CHECK(!kpolicy_check(p, "identity:validate_token", user, t_other));

	json_t *t_proj = json_pack("{s:{s:{s:s,s:s}}}", "target", "project", "id", "p1",
				   "domain_id", "default");
	CHECK(kpolicy_check(p, "identity:get_project", user, t_proj));
	CHECK(!kpolicy_check(p, "identity:get_project", svc, t_proj));
	CHECK(!kpolicy_check(p, "identity:list_projects", user, t_proj));

	/* "is_admin:1" against an integer credential; oslo compares str() forms */
	json_t *legacy = json_pack("{s:[], s:i}", "roles", "is_admin", 1);
	CHECK(kpolicy_check(p, "admin_required", legacy, NULL));
	json_t *legacy_b = json_pack("{s:[], s:b}", "roles", "is_admin", 1);
	CHECK(!kpolicy_check(p, "admin_required", legacy_b, NULL));  /* str(True) != "1" */

	/* nested credential path token.domain.id */
	json_t *dadmin = json_pack("{s:[s], s:{s:{s:s}}}", "roles", "admin", "token", "domain",
				   "id", "d7");
	json_t *t_user = json_pack("{s:s}", "target.user.domain_id", "d7");
	json_t *t_user2 = json_pack("{s:s}", "target.user.domain_id", "d8");
	CHECK(kpolicy_check(p, "identity:create_user", dadmin, t_user));
	CHECK(!kpolicy_check(p, "identity:create_user", dadmin, t_user2));

	/* unknown action without "default": deny */
	CHECK(!kpolicy_check(p, "identity:no_such_action", admin, NULL));
	CHECK(!kpolicy_check(p, NULL, admin, NULL));
	CHECK(!kpolicy_check(NULL, "admin_required", admin, NULL));

	json_decref(admin);
	json_decref(svc);
	json_decref(user);
	json_decref(t_own);
	json_decref(t_other);
	json_decref(t_proj);
	json_decref(legacy);
	json_decref(legacy_b);
	json_decref(dadmin);
	json_decref(t_user);
	json_decref(t_user2);
	kpolicy_free(p);
}

KTEST(default_rule_fallback)
{
	static const kpolicy_rule defs[] = {
		{ "default", "role:admin" },
		{ "open", "@" },
	};
	kpolicy *p = kpolicy_new(defs, ARRAY_SIZE(defs), NULL, 0);
	CHECK(p != NULL);
	json_t *admin = json_pack("{s:[s]}", "roles", "admin");
	json_t *user = json_pack("{s:[s]}", "roles", "member");
	CHECK(kpolicy_check(p, "anything", admin, NULL));
	CHECK(!kpolicy_check(p, "anything", user, NULL));
	CHECK(kpolicy_check(p, "open", user, NULL));
	json_decref(admin);
	json_decref(user);
	kpolicy_free(p);
}

KTEST(rule_references)
{
	static const kpolicy_rule defs[] = {
		{ "yes", "@" },
		{ "no", "!" },
		{ "loop", "rule:loop" },
		{ "ping", "rule:pong or rule:yes" },
		{ "pong", "rule:ping" },
		{ "fan", "rule:fan or rule:fan or rule:fan or rule:fan or rule:fan or rule:no" },
		{ "deep1", "rule:deep2" }, { "deep2", "rule:deep3" }, { "deep3", "rule:yes" },
		{ "missing", "rule:does_not_exist" },
		{ "not_missing", "not rule:does_not_exist" },
	};
	char err[256];
	kpolicy *p = kpolicy_new(defs, ARRAY_SIZE(defs), err, sizeof(err));
	CHECK(p != NULL);
	CHECK(!kpolicy_check(p, "loop", NULL, NULL));    /* self-reference: deny, no hang */
	CHECK(!kpolicy_check(p, "fan", NULL, NULL));     /* exponential fan-out: budget */
	CHECK(!kpolicy_check(p, "ping", NULL, NULL));    /* cycle hits depth limit: deny */
	CHECK(kpolicy_check(p, "deep1", NULL, NULL));
	CHECK(!kpolicy_check(p, "missing", NULL, NULL));
	CHECK(kpolicy_check(p, "not_missing", NULL, NULL));
	/* override a rule later */
	CHECK_INT(kpolicy_set(p, "deep3", "rule:no", err, sizeof(err)), 0);
	CHECK(!kpolicy_check(p, "deep1", NULL, NULL));
	CHECK_INT(kpolicy_set(p, "deep3", "(", err, sizeof(err)), -1);
	CHECK(!kpolicy_check(p, "deep1", NULL, NULL));   /* failed set keeps the old rule */
	CHECK_INT(kpolicy_set(p, "", "@", err, sizeof(err)), -1);
	kpolicy_free(p);
}

KTEST(generic_checks)
{
	const char *c = "{\"user_id\":\"u1\",\"is_admin\":true,\"is_admin_project\":false,"
			"\"roles\":[\"admin\",\"Reader\"],\"n\":5,"
			"\"token\":{\"user\":{\"id\":\"u1\"},\"groups\":[{\"id\":\"g1\"},"
			"{\"id\":\"g2\"}]}}";
	/* literal right side */
	CHECK_INT(eval_rule("user_id:u1", c, "{}"), 1);
	CHECK_INT(eval_rule("user_id:u2", c, "{}"), 0);
	CHECK_INT(eval_rule("is_admin:True", c, "{}"), 1);
	CHECK_INT(eval_rule("is_admin:true", c, "{}"), 0);
	CHECK_INT(eval_rule("is_admin_project:False", c, "{}"), 1);
	CHECK_INT(eval_rule("n:5", c, "{}"), 1);
	/* a list credential matches when any element does */
	CHECK_INT(eval_rule("roles:admin", c, "{}"), 1);
	CHECK_INT(eval_rule("roles:reader", c, "{}"), 0);      /* generic is case-sensitive */
	CHECK_INT(eval_rule("token.groups.id:g2", c, "{}"), 1);
	CHECK_INT(eval_rule("token.groups.id:g3", c, "{}"), 0);
	CHECK_INT(eval_rule("token.user.id:%(uid)s", c, "{\"uid\":\"u1\"}"), 1);
	CHECK_INT(eval_rule("token.user.id.deeper:x", c, "{}"), 0);
	CHECK_INT(eval_rule("nosuch:x", c, "{}"), 0);
	CHECK_INT(eval_rule("user_id.x:u1", c, "{}"), 0);
	/* substitution: flat key first, then dotted walk, with surrounding text */
	CHECK_INT(eval_rule("user_id:%(a.b)s", c, "{\"a.b\":\"u1\",\"a\":{\"b\":\"zz\"}}"), 1);
	CHECK_INT(eval_rule("user_id:%(a.b)s", c, "{\"a\":{\"b\":\"u1\"}}"), 1);
	CHECK_INT(eval_rule("user_id:%(a.b)s", c, "{\"a\":\"u1\"}"), 0);
	CHECK_INT(eval_rule("user_id:u%(n)s", c, "{\"n\":1}"), 1);
	CHECK_INT(eval_rule("user_id:%(p)s%(q)s", c, "{\"p\":\"u\",\"q\":\"1\"}"), 1);
	CHECK_INT(eval_rule("user_id:%(a)s", c, "{\"a\":[\"u1\"]}"), 0);
	CHECK_INT(eval_rule("user_id:%(a)s", c, "{\"a\":null}"), 0);
	CHECK_INT(eval_rule("pct:100%%", "{\"pct\":\"100%\"}", "{}"), 1);
	/* a null credential prints as None, like Python */
	CHECK_INT(eval_rule("domain_id:None", "{\"domain_id\":null}", "{}"), 1);
	/* an empty path segment is just an empty key */
	CHECK_INT(eval_rule("user_id:%(t..x)s", c, "{\"t\":{\"\":{\"x\":\"u1\"}}}"), 1);
}

KTEST(literal_left_side)
{
	CHECK_INT(eval_rule("'Member':%(role.name)s", "{}", "{\"role.name\":\"Member\"}"), 1);
	CHECK_INT(eval_rule("'Member':%(role.name)s", "{}", "{\"role\":{\"name\":\"member\"}}"), 0);
	CHECK_INT(eval_rule("\"Member\":%(role.name)s", "{}", "{\"role\":{\"name\":\"Member\"}}"),
		  1);
	CHECK_INT(eval_rule("True:%(user.enabled)s", "{}", "{\"user\":{\"enabled\":true}}"), 1);
	CHECK_INT(eval_rule("True:%(user.enabled)s", "{}", "{\"user\":{\"enabled\":false}}"), 0);
	CHECK_INT(eval_rule("False:%(user.enabled)s", "{}", "{\"user\":{\"enabled\":false}}"), 1);
	CHECK_INT(eval_rule("True:%(user.enabled)s", "{}", "{}"), 0);
	CHECK_INT(eval_rule("None:%(x)s", "{}", "{\"x\":null}"), 1);
	CHECK_INT(eval_rule("42:%(x)s", "{}", "{\"x\":42}"), 1);
	CHECK_INT(eval_rule("+42:%(x)s", "{}", "{\"x\":42}"), 1);
	CHECK_INT(eval_rule("-7:%(x)s", "{}", "{\"x\":-7}"), 1);
	CHECK_INT(eval_rule("42:%(x)s", "{}", "{\"x\":\"42\"}"), 1);   /* str() forms compare */
	CHECK_INT(eval_rule("1.5:%(x)s", "{}", "{\"x\":1.5}"), 0);      /* floats unsupported */
	CHECK_INT(eval_rule("x:%(y)s", "{\"x\":\"2.0\"}", "{\"y\":2.0}"), 1);
	CHECK_INT(eval_rule("x:%(y)s", "{\"x\":\"0.1\"}", "{\"y\":0.1}"), 1);
	CHECK_INT(eval_rule("'a\\'b':%(x)s", "{}", "{\"x\":\"a'b\"}"), 1);
	/* a left side that is no literal is a credential path */
	CHECK_INT(eval_rule("True:True", "{}", "{}"), 1);
	CHECK_INT(eval_rule("007:7", "{\"007\":\"7\"}", "{}"), 1);
}

KTEST(parenthesised_substitutions_in_tokens)
{
	/* inner parentheses of %(...)s survive the tokenizer's paren stripping */
	const char *c = "{\"roles\":[\"reader\"],\"project_id\":\"p1\"}";
	CHECK_INT(eval_rule("(project_id:%(target.project.id)s)", c,
			    "{\"target.project.id\":\"p1\"}"), 1);
	CHECK_INT(eval_rule("((role:reader and project_id:%(target.project.id)s))", c,
			    "{\"target.project.id\":\"p1\"}"), 1);
	/* no spaces: one check "role:admin)or(role:reader", as in oslo */
	CHECK_INT(eval_rule("(role:admin)or(role:reader)", c, "{}"), 0);
	CHECK_INT(eval_rule("(role:admin) or\t(role:reader)\n", c, "{}"), 1);
}

KTEST(http_checks_deny)
{
	CHECK_INT(eval_rule("http://example.com/check", "{}", "{}"), 0);
	CHECK_INT(eval_rule("https://example.com/%(x)s", "{}", "{}"), 0);
	CHECK_INT(eval_rule("not http://example.com", "{}", "{}"), 1);
}

KTEST(parse_errors)
{
	CHECK(parse_fails("(role:admin"));
	CHECK(parse_fails("role:admin)"));
	CHECK(parse_fails("role:admin or"));
	CHECK(parse_fails("or role:admin"));
	CHECK(parse_fails("and"));
	CHECK(parse_fails("role:admin role:member"));
	CHECK(parse_fails("()"));
	CHECK(parse_fails("not"));
	CHECK(parse_fails("role:a and not"));
	CHECK(parse_fails("'quoted'"));
	CHECK(parse_fails("\"quoted\" or @"));
	CHECK(parse_fails("nocolon"));
	CHECK(parse_fails(":x"));
	CHECK(parse_fails("a:%(x"));
	CHECK(parse_fails("a:%(x)d"));
	CHECK(parse_fails("a:%s"));
	CHECK(parse_fails("a:50%"));
	CHECK(parse_fails("@ @"));
	CHECK(parse_fails(")("));
	CHECK(!parse_fails("rule:%(x)s"));      /* rule names are literal */

	/* nesting and length bounds */
	char deep[512] = "";
	for (int i = 0; i < 100; i++)
		strcat(deep, "(");
	strcat(deep, "@");
	for (int i = 0; i < 100; i++)
		strcat(deep, ")");
	CHECK(parse_fails(deep));
	char nots[1024] = "";
	for (int i = 0; i < 100; i++)
		strcat(nots, "not ");
	strcat(nots, "@");
	CHECK(parse_fails(nots));
	char ok[256] = "";
	for (int i = 0; i < 20; i++)
		strcat(ok, "(");
	strcat(ok, "@");
	for (int i = 0; i < 20; i++)
		strcat(ok, ")");
	CHECK_INT(eval_rule(ok, "{}", "{}"), 1);

	size_t n = 20000;
	char *lng = malloc(n + 1);
	for (size_t i = 0; i < n; i += 2)
		memcpy(lng + i, "@ ", 2);
	lng[n] = '\0';
	CHECK(parse_fails(lng));
	free(lng);

	/* a long but legal chain: n-ary nodes, no deep recursion */
	char *chain = malloc(8000);
	strcpy(chain, "!");
	while (strlen(chain) < 7900)
		strcat(chain, " or !");
	strcat(chain, " or @");
	CHECK_INT(eval_rule(chain, "{}", "{}"), 1);
	free(chain);

	/* kpolicy_new reports the failing default by name */
	static const kpolicy_rule defs[] = { { "good", "@" }, { "bad_rule", "role:a and" } };
	char err[256] = "";
	kpolicy *p = kpolicy_new(defs, ARRAY_SIZE(defs), err, sizeof(err));
	CHECK(p == NULL);
	CHECK(strstr(err, "bad_rule") != NULL);
}

KTEST(load_yaml_file)
{
	static const kpolicy_rule defs[] = {
		{ "admin_required", "role:admin" },
		{ "identity:get_user", "rule:admin_required" },
		{ "identity:list_users", "rule:admin_required" },
	};
	kpolicy *p = kpolicy_new(defs, ARRAY_SIZE(defs), NULL, 0);
	char *path = write_tmp(
		"---\n"
		"# Show user details.\n"
		"# GET  /v3/users/{user_id}\n"
		"#\"identity:get_user\": \"rule:admin_required\"\n"
		"\n"
		"\"identity:get_user\": \"role:reader or user_id:%(target.user.id)s\"\n"
		"identity:list_users: role:reader  # trailing comment\r\n"
		"'identity:quoted': 'role:it''s'\n"
		"identity:empty:\n"
		"identity:empty2: \"\"\n"
		"   \"identity:indented\": \"!\"\n"
		"identity:hash_in_value: \"role:a#b\"\n");
	char err[256] = "";
	CHECK_INT(kpolicy_load_file(p, path, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	json_t *reader = json_pack("{s:[s], s:s}", "roles", "reader", "user_id", "u1");
	json_t *self = json_pack("{s:[s], s:s}", "roles", "member", "user_id", "u1");
	json_t *other = json_pack("{s:[s], s:s}", "roles", "member", "user_id", "u2");
	json_t *apos = json_pack("{s:[s]}", "roles", "it's");
	json_t *hash = json_pack("{s:[s]}", "roles", "a#b");
	json_t *target = json_pack("{s:s}", "target.user.id", "u1");
	CHECK(kpolicy_check(p, "identity:get_user", reader, target));
	CHECK(kpolicy_check(p, "identity:get_user", self, target));
	CHECK(!kpolicy_check(p, "identity:get_user", other, target));
	CHECK(kpolicy_check(p, "identity:list_users", reader, NULL));
	CHECK(!kpolicy_check(p, "identity:list_users", other, NULL));
	CHECK(kpolicy_check(p, "identity:quoted", apos, NULL));
	CHECK(kpolicy_check(p, "identity:empty", other, NULL));
	CHECK(kpolicy_check(p, "identity:empty2", other, NULL));
	CHECK(!kpolicy_check(p, "identity:indented", reader, NULL));
	CHECK(kpolicy_check(p, "identity:hash_in_value", hash, NULL));
	CHECK(!kpolicy_check(p, "admin_required", reader, NULL));  /* untouched default */
	unlink(path);
	free(path);

	/* a broken file changes nothing */
	path = write_tmp("\"identity:list_users\": \"@\"\n"
			 "\"identity:get_user\": \"role:reader and\"\n");
	CHECK_INT(kpolicy_load_file(p, path, err, sizeof(err)), -1);
	CHECK(strstr(err, "identity:get_user") != NULL);
	CHECK(!kpolicy_check(p, "identity:list_users", other, NULL));
	unlink(path);
	free(path);

	const char *bad[] = {
		"identity:x: [\"role:a\"]\n",
		"- role:a\n",
		"identity:x: |\n  role:a\n",
		"just some words\n",
		"\"unterminated: \"@\"\n",
		"\"k\": \"v\" trailing\n",
		"\"k\" \"v\"\n",
		"\"k\": \"bad \\q escape\"\n",
		"identity:x: {a: b}\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		path = write_tmp(bad[i]);
		err[0] = '\0';
		int rc = kpolicy_load_file(p, path, err, sizeof(err));
		CHECK_INT(rc, -1);
		CHECK(err[0] != '\0');
		if (rc != -1)
			fprintf(stderr, "  accepted bad file #%zu\n", i);
		unlink(path);
		free(path);
	}
	CHECK_INT(kpolicy_load_file(p, "/nonexistent/policy.yaml", err, sizeof(err)), -1);

	/* empty and comment-only files are fine */
	path = write_tmp("# nothing here\n\n");
	CHECK_INT(kpolicy_load_file(p, path, err, sizeof(err)), 0);
	unlink(path);
	free(path);
	path = write_tmp("");
	CHECK_INT(kpolicy_load_file(p, path, err, sizeof(err)), 0);
	unlink(path);
	free(path);

	json_decref(reader);
	json_decref(self);
	json_decref(other);
	json_decref(apos);
	json_decref(hash);
	json_decref(target);
	kpolicy_free(p);
}

KTEST(load_json_file)
{
	kpolicy *p = kpolicy_new(NULL, 0, NULL, 0);
	CHECK(p != NULL);
	char *path = write_tmp("  {\n \"default\": \"role:admin\",\n"
			       "  \"identity:get_user\": \"role:reader\",\n"
			       "  \"identity:dup\": \"!\", \"identity:dup\": \"@\"}\n");
	char err[256] = "";
	CHECK_INT(kpolicy_load_file(p, path, err, sizeof(err)), 0);
	json_t *reader = json_pack("{s:[s]}", "roles", "reader");
	json_t *admin = json_pack("{s:[s]}", "roles", "admin");
	CHECK(kpolicy_check(p, "identity:get_user", reader, NULL));
	CHECK(!kpolicy_check(p, "identity:list_users", reader, NULL));
	CHECK(kpolicy_check(p, "identity:list_users", admin, NULL));  /* default */
	CHECK(kpolicy_check(p, "identity:dup", reader, NULL));        /* last wins */
	unlink(path);
	free(path);

	const char *bad[] = {
		"{\"a\": [[\"role:admin\"]]}",
		"{\"a\": 1}",
		"{\"a\": \"role:x or\"}",
		"{\"a\": \"@\"",
		"[\"a\"]",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		path = write_tmp(bad[i]);
		CHECK_INT(kpolicy_load_file(p, path, err, sizeof(err)), -1);
		unlink(path);
		free(path);
	}
	json_decref(reader);
	json_decref(admin);
	kpolicy_free(p);
}

KTEST(many_rules_table_growth)
{
	kpolicy *p = kpolicy_new(NULL, 0, NULL, 0);
	char name[64], rule[64];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "rule_%d", i);
		snprintf(rule, sizeof(rule), "%s", i % 2 ? "@" : "!");
		CHECK_INT(kpolicy_set(p, name, rule, NULL, 0), 0);
	}
	snprintf(name, sizeof(name), "rule_%d", 777);
	CHECK(kpolicy_check(p, name, NULL, NULL));
	snprintf(name, sizeof(name), "rule_%d", 500);
	CHECK(!kpolicy_check(p, name, NULL, NULL));
	CHECK(!kpolicy_check(p, "rule_1000", NULL, NULL));
	kpolicy_free(p);
	kpolicy_free(NULL);
}

int main(void) { return ktest_run(); }
