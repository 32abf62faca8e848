/*
 * conf.h - the INI configuration file (/etc/kumo/kumo.conf or --config).
 *
 * One section per service ([identity], [image], ...) plus [DEFAULT] for what
 * they share.  A key missing from a section is looked up in [DEFAULT], then
 * the caller's default is used, so an empty file gives a working cloud.
 * Lines: "key = value", "# comment", "; comment", "[section]".
 */
#ifndef KUMO_CONF_H
#define KUMO_CONF_H

#include "common.h"

typedef struct kconf kconf;

/* Parse a file; NULL path or a missing file gives an empty config when
 * must_exist is false.  On error returns NULL and fills err. */
kconf *kconf_load(const char *path, bool must_exist, char *err, size_t errlen);
kconf *kconf_parse(const char *text, char *err, size_t errlen);
void kconf_free(kconf *c);

const char *kconf_get(const kconf *c, const char *section, const char *key, const char *def);
long kconf_get_int(const kconf *c, const char *section, const char *key, long def);
bool kconf_get_bool(const kconf *c, const char *section, const char *key, bool def);
/* Override or add a value (used for command-line overrides and tests). */
void kconf_set(kconf *c, const char *section, const char *key, const char *value);

/* The process-wide configuration, set once at start. */
extern kconf *kumo_conf;

#endif
