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
/* (added for data.c) After PUT /stage: record the staged size on an image
 * that is still "uploading" (Glance shows it; checksum and hashes stay null
 * until the import); -1 if it is not (deleted or moved meanwhile). */
int img_set_staged_size(const char *id, int64_t size);

/* ---- store.c ---- */
int imgstore_init(void);                /* [image] store_dir, default <state_dir>/images */
const char *imgstore_path(const char *id, char *buf, size_t n);
int imgstore_delete(const char *id);    /* 0 or -1; missing data is not an error */
int64_t imgstore_free_bytes(void);
/* (added for data.c) At start, after imgstore_init(): remove the
 * "<id>.partial" files an interrupted upload or stage left in store_dir and
 * staging_dir.  Returns how many, or -1.  imgstore_delete() also removes
 * staged data of the image. */
int imgstore_cleanup_partials(void);

/* Streaming writes (data.c).  Data goes to "<dir>/<id>.partial", renamed to
 * "<dir>/<id>" by commit, so a crash never leaves a partial file under the
 * image's name.  Functions return 0 or -errno (-ENOSPC when the medium is
 * full, -EFBIG beyond what the store can hold). */
enum imgstore_area { IMGSTORE_STORE, IMGSTORE_STAGING };
typedef struct imgstore_writer imgstore_writer;
/* size_hint > 0 reserves the space up front (an early -ENOSPC). */
int imgstore_write_open(imgstore_writer **w, enum imgstore_area area, const char *id,
                        uint64_t size_hint);
int imgstore_write(imgstore_writer *w, const void *buf, size_t n);
int imgstore_write_commit(imgstore_writer *w);   /* frees w, also on error */
void imgstore_write_abort(imgstore_writer *w);   /* removes the partial file, frees w */
/* The image's data for reading: an fd (caller closes) and its size; -ENOENT
 * when there is none. */
int imgstore_open(const char *id, uint64_t *size);
/* Staging (glance-direct): staged data and a small JSON note beside it. */
int imgstore_open_staged(const char *id, uint64_t *size);   /* fd / -ENOENT */
int imgstore_stage_note_set(const char *id, const char *json);
char *imgstore_stage_note_get(const char *id);           /* malloc'd or NULL */
int imgstore_unstage(const char *id);                     /* data and note; 0 or -errno */
/* Move staged data into the store (rename, or copy across filesystems). */
int imgstore_import(const char *id);

/* ---- internal to the API (service.c, schema.c, model.c, policy.c, api.c) ---- */

/* service.c: an error as Glance (webob) answers it, with a detail line
 * (explanation NULL or "" = the status's standard explanation). */
void img_error_detail(kreq *r, int status, const char *explanation, const char *detail);

/* schema.c */
int img_db_sync(void);

/* policy.c */
void img_policy_fini(void);
bool img_is_admin(kreq *r);                 /* the context_is_admin rule */
const char *img_project(kreq *r);           /* the caller's project or NULL */
/* Glance's ImageTarget for an image view (new reference). */
json_t *img_policy_target(kreq *r, const json_t *image);
/* Soft checks: no answer. */
bool img_check(kreq *r, const char *action, const json_t *image);
bool img_check_target(kreq *r, const char *action, const json_t *target);
/* 403 "You are not authorized to complete <action> action." */
void img_forbidden_action(kreq *r, const char *action);

/* model.c */
bool img_is_core_key(const char *key);      /* not a custom property */
/* The API view of a live image: 0 and *out (new reference), 1 when there is
 * none, -1 on a database error. */
int img_fetch(const char *id, json_t **out);
bool img_visible_to(const char *project, bool admin, const json_t *image);
/* A member's status into out: 0, 1 (not a member) or -1. */
int img_member_status(const char *image_id, const char *member, char out[16]);
/* Writes from a view: 0, 409 (duplicate id) / 404 (gone) / 403 (protected),
 * or -1 on a database error.  img_update also refreshes the view's
 * updated_at; it writes the mutable attributes, properties and tags only. */
int img_insert(json_t *view);
int img_update(json_t *view);
int img_remove(const char *id);
/* Members: views as the API shows them. */
json_t *img_members_list(const char *image_id, const char *only);  /* NULL on error */
int img_member_get(const char *image_id, const char *member, json_t **out);  /* 0/1/-1 */
int64_t img_member_count(const char *image_id);
int img_member_add(const char *image_id, const char *member);      /* 0/409/-1 */
int img_member_set(const char *image_id, const char *member, const char *status); /* 0/1/-1 */
int img_member_delete(const char *image_id, const char *member);   /* 0/1/-1 */
/* ISO 8601 as oslo's parse_isotime takes it; microseconds or -1. */
int64_t img_parse_time(const char *s);

#define IMG_MAX_SORT 16
typedef struct img_param { const char *key, *value; } img_param;
typedef struct img_query {
	const char *project;           /* the caller's project (NULL: none) */
	bool admin;
	const char *visibility;        /* NULL or community/public/private/shared/all */
	const char *member_status;     /* pending/accepted/rejected/all */
	bool os_hidden;
	int protected_;                /* -1: no filter */
	const char **tags;
	size_t ntags;
	img_param *filters;            /* the other query parameters */
	size_t nfilters;
	const char *sort_keys[IMG_MAX_SORT], *sort_dirs[IMG_MAX_SORT];
	size_t nsort, nsort_dirs;
	const char *marker;
	int64_t limit;
} img_query;
/* One page: 0 with *out (pool-owned array of views) and *next_marker (pool
 * string or NULL), or an HTTP status with err filled (400/403/500). */
int img_list(kreq *r, const img_query *q, json_t **out, char **next_marker, char *err,
             size_t errlen);

#endif
