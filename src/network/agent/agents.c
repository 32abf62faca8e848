/* agents.c - to be written (data plane helper). Temporary. */
#include "network/network.h"
int net_agents_start(void) { return 0; }
void net_agents_stop(void) {}
