/* networks.c - to be written (L2 API helper). Temporary route table. */
#include "network.h"
const kroute net_l2_routes[1];
const size_t net_l2_nroutes = 0;
