/* flavors.c - placeholder until its author lands it (STUB). */
#include <stdio.h>
#include "compute.h"

const kroute cmp_flavor_routes[] = { { NULL, NULL, NULL, 0 } };
const size_t cmp_flavor_nroutes = 0;
json_t *cmp_flavor_view(kreq *r, const char *flavor_id, bool extra_specs) { (void)r; (void)flavor_id; (void)extra_specs; return NULL; }
bool cmp_flavor_usable(kreq *r, const char *flavor_id) { (void)r; (void)flavor_id; return false; }
