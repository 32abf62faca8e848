/* agent/fake.c - placeholder until its author lands it (STUB). */
#include <stdio.h>
#include "../compute.h"

const cmp_virt_driver cmp_fake_driver = { .name = "fake" };
