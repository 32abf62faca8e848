/* scheduler.c - placeholder until its author lands it (STUB). */
#include <stdio.h>
#include "compute.h"

int cmp_scheduler_start(void) { return 0; }
void cmp_scheduler_stop(void) {}
int cmp_schedule(const json_t *inst, const json_t *ignore_hosts, char *out, size_t outlen) { (void)inst; (void)ignore_hosts; snprintf(out, outlen, "not implemented"); return -1; }
void cmp_allocation_release(const char *instance_id) { (void)instance_id; }
