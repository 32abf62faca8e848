/*
 * fuzz_policy.c - libFuzzer target for the policy language (src/core/policy.c).
 *
 * The input is rule text: up to the first newline it becomes rule "fuzz",
 * the rest rule "other" (so rule: references, including cycles, between two
 * arbitrary rules are exercised).  Both are compiled next to a few fixed
 * rules and evaluated against fixed credentials and targets, flat and
 * nested.  Parse errors are fine; crashes, leaks, hangs and sanitizer
 * reports are not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/policy.h"

static json_t *creds, *target_flat, *target_nested;

static void setup(void)
{
	creds = json_loads(
		"{\"user_id\": \"u1\", \"user_domain_id\": \"default\", \"project_id\": \"p1\","
		" \"project_domain_id\": \"default\", \"domain_id\": null,"
		" \"system_scope\": \"all\","
		" \"roles\": [\"admin\", \"member\", \"reader\", 7, null],"
		" \"is_admin\": true, \"is_admin_project\": false, \"n\": 3, \"f\": 2.5,"
		" \"token\": {\"user\": {\"id\": \"u1\"}, \"groups\": [{\"id\": \"g\"}, [1], 5]}}",
		0, NULL);
	target_flat = json_loads(
		"{\"target.user.id\": \"u1\", \"target.user.domain_id\": \"default\","
		" \"target.project.id\": \"p1\", \"user_id\": \"u1\", \"x\": null, \"y\": [1],"
		" \"z\": {\"a\": 1}, \"r\": 0.1, \"b\": false}",
		0, NULL);
	target_nested = json_loads(
		"{\"target\": {\"user\": {\"id\": \"u1\", \"domain_id\": \"default\"},"
		" \"project\": {\"id\": \"p1\", \"tags\": [\"a\"]}},"
		" \"role\": {\"name\": \"Member\"}}",
		0, NULL);
	if (!creds || !target_flat || !target_nested)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!creds)
		setup();
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *other = strchr(text, '\n');
	if (other)
		*other++ = '\0';

	static const kpolicy_rule fixed[] = {
		{ "admin_required", "role:admin or is_admin:1" },
		{ "owner", "user_id:%(target.user.id)s" },
	};
	kpolicy *p = kpolicy_new(fixed, sizeof(fixed) / sizeof(fixed[0]), NULL, 0);
	if (!p)
		abort();
	char err[256];
	if (kpolicy_set(p, "fuzz", text, err, sizeof(err)) == 0) {
		if (other)
			(void)kpolicy_set(p, "other", other, err, sizeof(err));
		(void)kpolicy_check(p, "fuzz", creds, target_flat);
		(void)kpolicy_check(p, "fuzz", creds, target_nested);
		(void)kpolicy_check(p, "fuzz", NULL, NULL);
		(void)kpolicy_check(p, "fuzz", target_nested, creds);
		(void)kpolicy_check(p, "unknown-action", creds, target_flat);
		if (kpolicy_set(p, "default", "rule:fuzz", err, sizeof(err)) == 0)
			(void)kpolicy_check(p, "unknown-action", creds, target_flat);
	}
	kpolicy_free(p);
	free(text);
	return 0;
}
