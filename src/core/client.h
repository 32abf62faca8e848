/*
 * client.h - calls from one Kumo service to another over their REST APIs
 * (Compute -> Image and Network, as nova talks to glance and neutron).
 *
 * Services never reach into each other's databases: the compute agent
 * downloads an image with GET /v2/images/{id}/file and creates a port with
 * POST /v2.0/ports, exactly as Nova does, so the same code works when the
 * services run in other processes or on other hosts.
 *
 * Tokens: a request made on behalf of a user passes the user's token; the
 * rest (agents, periodic tasks) pass NULL and get the service's own token
 * (kauth_service_token(), [keystone_authtoken] credentials), renewed once
 * on a 401.  Endpoints: [endpoints] <type> = URL in the config, else the
 * public URL of that type in Identity's catalog (cached).
 */
#ifndef KUMO_CLIENT_H
#define KUMO_CLIENT_H

#include <jansson.h>
#include <stdint.h>
#include "common.h"

/* Public endpoint URL of catalog type "image", "network", "compute"...
 * without a trailing slash; malloc'd, NULL when unknown (logged). */
char *kclient_endpoint(const char *type);

/*
 * One JSON request to endpoint(type) + path ("/v2.0/ports?device_id=...").
 * token NULL = the service token.  body may be NULL.  Extra headers: NULL or
 * a NULL-terminated array of "Name: value" strings.  Returns the HTTP status
 * (0 when there was no answer: connection refused, timeout, unknown
 * endpoint); *out (if not NULL) gets the parsed JSON body (new reference) or
 * NULL when the body was empty or not JSON.
 */
long kclient_json(const char *type, const char *method, const char *path, const char *token,
                  const json_t *body, const char *const *headers, json_t **out);

/* GET endpoint(type) + path into fd (streamed, any size); *bytes gets the
 * count written.  Returns the HTTP status (200 on success) or 0. */
long kclient_download(const char *type, const char *path, const char *token, int fd,
                      uint64_t *bytes);

/* PUT fd's content (len bytes from its current offset) to endpoint(type) +
 * path as application/octet-stream.  Returns the HTTP status or 0. */
long kclient_upload(const char *type, const char *path, const char *token, int fd,
                    uint64_t len);

#endif
