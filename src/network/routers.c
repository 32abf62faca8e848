/* routers.c - to be written (L3 helper). Temporary route table. */
#include "network.h"
const kroute net_l3_routes[1];
const size_t net_l3_nroutes = 0;
