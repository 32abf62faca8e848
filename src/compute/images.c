/*
 * images.c - Nova's image proxy API (/v2.1/images), deprecated by Nova at
 * microversion 2.36 but part of 2.1: Tempest's compute image client waits
 * for a server snapshot through it, and old clients list images with it.
 *
 * Every call is relayed to the image service with the caller's own token
 * (core/client.h), so visibility is exactly Glance's; the answer is turned
 * into Nova's image view (status ACTIVE/SAVING/DELETED/ERROR/UNKNOWN,
 * progress, minDisk/minRam, metadata = the custom properties, the server a
 * snapshot was made from).
 */
#include <stdio.h>
#include <string.h>

#include "core/auth.h"
#include "core/client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

/* Glance's own attributes: everything else is a custom property (metadata). */
static const char *const core_keys[] = {
	"id", "name", "status", "visibility", "protected", "checksum", "owner", "size",
	"virtual_size", "min_ram", "min_disk", "created_at", "updated_at", "tags",
	"disk_format", "container_format", "self", "file", "schema", "os_hidden",
	"os_hash_algo", "os_hash_value", "direct_url", "locations", "stores", NULL,
};

static bool is_core(const char *k)
{
	for (size_t i = 0; core_keys[i]; i++)
		if (strcmp(core_keys[i], k) == 0)
			return true;
	return false;
}

static json_t *links(kreq *r, const char *coll, const char *id)
{
	const char *base = kreq_base_url(r);
	return json_pack("[{s:s,s:s},{s:s,s:s}]", "rel", "self", "href",
	                 kpool_printf(r->pool, "%s/v2.1/%s/%s", base, coll, id), "rel",
	                 "bookmark", "href", kpool_printf(r->pool, "%s/%s/%s", base, coll, id));
}

static void nova_status(const char *st, const char **status, int *progress)
{
	static const struct { const char *glance, *nova; int progress; } map[] = {
		{ "active", "ACTIVE", 100 }, { "queued", "SAVING", 25 },
		{ "saving", "SAVING", 50 }, { "importing", "SAVING", 50 },
		{ "uploading", "SAVING", 25 }, { "deleted", "DELETED", 0 },
		{ "pending_delete", "DELETED", 0 }, { "killed", "ERROR", 0 },
	};
	*status = "UNKNOWN";
	*progress = 0;
	for (size_t i = 0; st && i < ARRAY_SIZE(map); i++)
		if (strcmp(map[i].glance, st) == 0) {
			*status = map[i].nova;
			*progress = map[i].progress;
		}
}

/* Glance times ("2026-11-26T07:10:00Z") as Nova shows them (the same form). */
static json_t *time_of(const json_t *img, const char *key)
{
	const char *t = kjson_str(img, key);
	return json_string(t ? t : "");
}

static json_t *image_view(kreq *r, const json_t *img, bool detail)
{
	const char *id = kjson_str(img, "id");
	if (!id)
		return NULL;
	json_t *v = json_pack("{s:s,s:o,s:o}", "id", id, "name",
	                      kjson_str(img, "name") ? json_string(kjson_str(img, "name"))
	                                             : json_null(),
	                      "links", links(r, "images", id));
	if (!detail)
		return v;
	const char *status;
	int progress;
	nova_status(kjson_str(img, "status"), &status, &progress);
	json_t *meta = json_object();
	const char *k;
	json_t *val;
	json_object_foreach((json_t *)img, k, val) {
		if (is_core(k))
			continue;
		if (json_is_string(val))
			json_object_set(meta, k, val);
		else if (!json_is_null(val)) {
			_cleanup_free_ char *s = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
			if (s)
				json_object_set_new(meta, k, json_string(s));
		}
	}
	json_int_t min_disk = json_integer_value(json_object_get(img, "min_disk"));
	json_int_t min_ram = json_integer_value(json_object_get(img, "min_ram"));
	json_object_set_new(v, "status", json_string(status));
	json_object_set_new(v, "progress", json_integer(progress));
	json_object_set_new(v, "minDisk", json_integer(min_disk));
	json_object_set_new(v, "minRam", json_integer(min_ram));
	json_object_set_new(v, "created", time_of(img, "created_at"));
	json_object_set_new(v, "updated", time_of(img, "updated_at"));
	json_t *size = json_object_get(img, "size");
	json_object_set_new(v, "OS-EXT-IMG-SIZE:size",
	                    json_is_integer(size) ? json_incref(size) : json_null());
	const char *server = kjson_str(meta, "instance_uuid");
	if (server)
		json_object_set_new(v, "server", json_pack("{s:s,s:o}", "id", server, "links",
		                                           links(r, "servers", server)));
	json_object_set_new(v, "metadata", meta);
	return v;
}

/* Relay a failure of the image service as Nova would word it. */
static void relay_error(kreq *r, long st, const char *id)
{
	if (st == 404)
		kresp_error(r, 404, "Image not found.");
	else if (st == 403)
		kresp_error(r, 403, "Policy doesn't allow the image %s to be accessed.",
		            id ? id : "list");
	else if (st == 401)
		kresp_error(r, 401, "The request you have made requires authentication.");
	else
		kresp_error(r, 503, "The image service is unavailable.");
}

static void list(kreq *r, bool detail)
{
	if (!cmp_enforce(r, "os_compute_api:image-proxy", NULL))
		return;
	const char *limit = kreq_query(r, "limit");
	const char *marker = kreq_query(r, "marker");
	char path[512] = "/v2/images?limit=1000";
	if (limit && *limit && strspn(limit, "0123456789") == strlen(limit) && strlen(limit) < 8)
		snprintf(path, sizeof(path), "/v2/images?limit=%s", limit);
	if (marker && kutil_is_uuid(marker))
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "&marker=%s", marker);
	json_t *out = NULL;
	long st = kclient_json("image", "GET", path, r->ctx->token, NULL, NULL, &out);
	_cleanup_json_ _unused_ json_t *own = out;
	if (st != 200) {
		relay_error(r, st, NULL);
		return;
	}
	json_t *arr = json_array(), *img;
	size_t i;
	json_array_foreach(json_object_get(out, "images"), i, img) {
		json_t *v = image_view(r, img, detail);
		if (v)
			json_array_append_new(arr, v);
	}
	kresp_json(r, 200, json_pack("{s:o}", "images", arr));
}

static void list_images(kreq *r)
{
	list(r, false);
}

static void list_images_detail(kreq *r)
{
	list(r, true);
}

static void show_image(kreq *r)
{
	const char *id = kreq_param(r, "image_id");
	if (!cmp_enforce(r, "os_compute_api:image-proxy", NULL))
		return;
	if (!kutil_is_uuid(id)) {
		kresp_error(r, 404, "Image not found.");
		return;
	}
	json_t *out = NULL;
	long st = kclient_json("image", "GET", kpool_printf(r->pool, "/v2/images/%s", id),
	                       r->ctx->token, NULL, NULL, &out);
	_cleanup_json_ _unused_ json_t *own = out;
	if (st != 200) {
		relay_error(r, st, id);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o*}", "image", image_view(r, out, true)));
}

static void delete_image(kreq *r)
{
	const char *id = kreq_param(r, "image_id");
	if (!cmp_enforce(r, "os_compute_api:image-proxy", NULL))
		return;
	if (!kutil_is_uuid(id)) {
		kresp_error(r, 404, "Image not found.");
		return;
	}
	long st = kclient_json("image", "DELETE", kpool_printf(r->pool, "/v2/images/%s", id),
	                       r->ctx->token, NULL, NULL, NULL);
	if (st == 204 || st == 200)
		kresp_status(r, 204);
	else
		relay_error(r, st, id);
}

const kroute cmp_image_routes[] = {
	{ "GET", "/v2.1/images", list_images, 0 },
	{ "GET", "/v2.1/images/detail", list_images_detail, 0 },
	{ "GET", "/v2.1/images/{image_id}", show_image, 0 },
	{ "DELETE", "/v2.1/images/{image_id}", delete_image, 0 },
};
const size_t cmp_image_nroutes = ARRAY_SIZE(cmp_image_routes);
