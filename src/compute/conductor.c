/* conductor.c - placeholder until its author lands it (STUB). */
#include <stdio.h>
#include "compute.h"

int cmp_conductor_start(void) { return 0; }
void cmp_conductor_stop(void) {}
