/* secgroups.c - to be written (security groups helper). Temporary route table. */
#include "network.h"
const kroute net_sg_routes[1];
const size_t net_sg_nroutes = 0;
