/*
 * policy.h - oslo.policy's rule language, evaluated in C.
 *
 * Rules look like:
 *     "role:admin or (role:reader and system_scope:all)"
 *     "rule:admin_required or project_id:%(target.project.id)s"
 *     "user_id:%(user_id)s and not role:reader"
 *     "@" (always), "!" (never), "" (always)
 * Checks: role:<name>; rule:<name>; <credential key>:<literal or %(target key)s>;
 * '<literal>':%(target key)s; http: checks are not supported (false).
 * Operators: and, or, not, parentheses, with oslo's precedence.
 * Target keys are dotted paths into the target JSON ("target.user.domain_id"
 * looks up target["target.user.domain_id"] first, then walks the dots).
 *
 * Defaults live in code (each service's table); a policy file (YAML "a: b"
 * lines or JSON object, as oslo writes them) overrides single rules.
 */
#ifndef KUMO_POLICY_H
#define KUMO_POLICY_H

#include <jansson.h>
#include "common.h"

typedef struct kpolicy kpolicy;
typedef struct kpolicy_rule { const char *name; const char *rule; } kpolicy_rule;

/* Compile defaults; NULL (and err) when a default rule does not parse. */
kpolicy *kpolicy_new(const kpolicy_rule *defaults, size_t n, char *err, size_t errlen);
/* Override rules from a file (JSON or simple YAML); -1 and err on error. */
int kpolicy_load_file(kpolicy *p, const char *path, char *err, size_t errlen);
int kpolicy_set(kpolicy *p, const char *name, const char *rule, char *err, size_t errlen);
void kpolicy_free(kpolicy *p);

/* Evaluate `action` with credentials (see kctx_to_creds) against target.  An
 * unknown action falls back to the "default" rule, else denies. */
bool kpolicy_check(const kpolicy *p, const char *action, const json_t *creds, const json_t *target);

#endif
