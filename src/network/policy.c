/* policy.c - to be written (L2 API helper). Temporary. */
#include "network.h"
kpolicy *net_policy;
int net_policy_init(void) { return 0; }
