/* agent/manager.c - placeholder until its author lands it (STUB). */
#include <stdio.h>
#include "../compute.h"

int cmp_agent_start(void) { return 0; }
void cmp_agent_stop(void) {}
