/*
 * image.h - the Image service (OpenStack Glance v2 API), internal API.
 *
 * Layout of this folder:
 *   service.c   the kservice (port 9292): routes, Glance's error dialect,
 *               version discovery, init (database, store, recovery of images
 *               left in "saving" by a crash)
 *   schema.c    versioned schema of the image database
 *   model.c     image records: create/get/list/update/delete, visibility and
 *               membership rules, status transitions (SQL lives here)
 *   api.c       /v2/images CRUD, JSON patch, tags, deactivate/reactivate,
 *               /v2/schemas/..., members
 *   policy.c    Glance's default policy rules, img_enforce()
 *   store.c     the store interface and the filesystem store
 *               ([image] store_dir, one file per image id)
 *   data.c      PUT/GET /v2/images/{id}/file, stage/import, /v2/info/import:
 *               streaming upload (size, MD5 checksum, sha512 multihash on the
 *               way), download with Content-MD5 and Range
 *
 * Status machine (as Glance): queued -> saving -> active; upload failure ->
 * back to queued; active <-> deactivated; import: queued -> uploading (stage)
 * -> importing -> active; killed on unrecoverable failure; deleted.
 */
#ifndef KUMO_IMAGE_H
#define KUMO_IMAGE_H

#include <jansson.h>
#include "core/db.h"
#include "core/http.h"
#include "core/policy.h"

extern kservice image_service;
extern kdb *img_db;
extern kpolicy *img_policy;

/* ---- service.c ---- */
void img_error_body(kreq *r, int status, const char *message);
extern const kroute img_api_routes[];    /* api.c */
extern const size_t img_api_nroutes;
extern const kroute img_data_routes[];   /* data.c */
extern const size_t img_data_nroutes;

/* ---- policy.c ---- */
int img_policy_init(void);
/* Check action ("upload_image", "download_image", "get_image", ...) for
 * r->ctx against the image (JSON as in the API); answers 403 and returns false
 * on denial. */
bool img_enforce(kreq *r, const char *action, json_t *image);

/* ---- model.c ---- */
/* The image as the API shows it (all core and custom properties, tags,
 * "self", "file", "schema"), if visible to the caller; otherwise answers 404
 * (Glance's message) and returns NULL.  Pool-owned reference. */
json_t *img_get_visible(kreq *r, const char *id);
/* Compare-and-set the status; 0 when the image was in `from` and is now in
 * `to`, -1 otherwise (someone else moved it). */
int img_set_status(const char *id, const char *from, const char *to);
/* Record the result of a completed upload and move saving -> active (or
 * importing -> active) in one statement; -1 if the image is no longer in
 * `from` (e.g. deleted meanwhile: the caller then removes the data). */
int img_set_data(const char *id, const char *from, int64_t size, const char *checksum_md5,
                 const char *hash_algo, const char *hash_value);
/* At start: images stuck in "saving"/"importing" go back to "queued". */
int img_recover(void);

/* ---- store.c ---- */
int imgstore_init(void);                /* [image] store_dir, default <state_dir>/images */
const char *imgstore_path(const char *id, char *buf, size_t n);
int imgstore_delete(const char *id);    /* 0 or -1; missing data is not an error */
int64_t imgstore_free_bytes(void);

#endif
