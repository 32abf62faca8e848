/* keypairs.c - placeholder until its author lands it (STUB). */
#include <stdio.h>
#include "compute.h"

const kroute cmp_keypair_routes[] = { { NULL, NULL, NULL, 0 } };
const size_t cmp_keypair_nroutes = 0;
json_t *cmp_keypair_get(const char *user_id, const char *name) { (void)user_id; (void)name; return NULL; }
