/*
 * data.c - image data: PUT/GET /v2/images/{id}/file, the interoperable
 * import (PUT /v2/images/{id}/stage, POST /v2/images/{id}/import with
 * glance-direct), /v2/info/import and /v2/info/stores.  Glance's
 * image_data.py and the import half of its images.py, with their checks in
 * their order and their status codes and messages.
 *
 * Uploads never sit in memory.  PUT /file and PUT /stage are KROUTE_STREAM
 * routes (http.h): the handler below runs as soon as the headers are in,
 * before the body, and does every check that can fail early (Content-Type
 * 415, visibility 404, policy 403, status 409, formats 400, an announced
 * size over [image] image_size_cap 413, a full disk when the size is
 * announced 413).  It then moves the image queued -> saving (or uploading)
 * with a compare-and-set, so two uploads cannot both win, opens a store
 * writer ("<id>.partial") and accepts the body.  The body is written out as
 * it arrives and digested with MD5 (Glance's "checksum") and SHA-512
 * (os_hash_value) through OpenSSL's EVP, on two helper threads so that
 * hashing does not serialize with receiving and writing (the pipeline
 * below); memory stays constant (1 MiB of buffers) whatever the size.
 * At the end of the body the partial file is renamed to the image's name
 * and img_set_data() records size and hashes and moves saving -> active in
 * one statement; 204.  Every way out that is not success (over the cap,
 * disk full, write error, client gone mid-body, server stopping) removes the
 * partial file and puts the image back to queued, as Glance's _restore()
 * does, so the upload can be retried.  If the image was deleted during the
 * upload, the data just written is removed and the answer is Glance's 410.
 *
 * Staging works the same way into the staging area, moving queued ->
 * uploading; the hashes are kept in a small note beside the staged file.
 * The import then moves uploading -> importing, renames the staged file into
 * the store (a copy when the two are on different filesystems), and records
 * the hashes (recomputed from the file if the note is missing): importing ->
 * active.  Glance runs this as an asynchronous task and answers 202 at once;
 * here it is a rename, done before answering the same 202; a failure puts
 * the image back to queued without its staged data, as Glance's revert does.
 *
 * Downloads are answered with kresp_file(): sendfile() from the store's file,
 * never through memory, with Content-MD5 and Range support (206, 416) as
 * Glance computes them from webob's parsing, including the legacy
 * Content-Range request header.
 */
#include "image.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"

#define IMG_DEFAULT_SIZE_CAP 1099511627776LL    /* Glance's image_size_cap: 1 TiB */

static const char msg_too_large[] =
	"The incoming image is too large: The provided image is too large.";

static int64_t size_cap(void)
{
	long long cap = kconf_get_int(kumo_conf, "image", "image_size_cap", IMG_DEFAULT_SIZE_CAP);
	return cap > 0 ? cap : IMG_DEFAULT_SIZE_CAP;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool is_admin(const kreq *r)
{
	return r->ctx && (r->ctx->is_admin_token || kctx_has_role(r->ctx, "admin"));
}

/* ------------------------------------------------------------------------ */
/* Hashing: MD5 (checksum) and SHA-512 (the multihash) side by side. */

typedef struct hashes {
	EVP_MD_CTX *md5, *sha512;
} hashes;

static void hashes_free(hashes *h)
{
	EVP_MD_CTX_free(h->md5);
	EVP_MD_CTX_free(h->sha512);
	h->md5 = h->sha512 = NULL;
}

static int hashes_init(hashes *h)
{
	h->md5 = EVP_MD_CTX_new();
	h->sha512 = EVP_MD_CTX_new();
	if (!h->md5 || !h->sha512 || EVP_DigestInit_ex(h->md5, EVP_md5(), NULL) != 1 ||
	    EVP_DigestInit_ex(h->sha512, EVP_sha512(), NULL) != 1) {
		hashes_free(h);
		return -1;
	}
	return 0;
}

static void hashes_update(hashes *h, const void *buf, size_t n)
{
	EVP_DigestUpdate(h->md5, buf, n);
	EVP_DigestUpdate(h->sha512, buf, n);
}

/* Finish both into pool strings (lowercase hex). */
static int hashes_final(hashes *h, kpool *pool, const char **md5, const char **sha512)
{
	unsigned char d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
	unsigned n1 = 0, n2 = 0;
	if (EVP_DigestFinal_ex(h->md5, d1, &n1) != 1 || EVP_DigestFinal_ex(h->sha512, d2, &n2) != 1)
		return -1;
	_cleanup_free_ char *x1 = kutil_hex(d1, n1);
	_cleanup_free_ char *x2 = kutil_hex(d2, n2);
	if (!x1 || !x2)
		return -1;
	*md5 = kpool_strdup(pool, x1);
	*sha512 = kpool_strdup(pool, x2);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The upload pipeline.  MD5 and SHA-512 cost more CPU than everything else
 * an upload does, so they run beside it, each on its own thread: the
 * connection's thread gathers the body into PIPE_BUFSZ buffers, writes each
 * one to the store and hands it to both hashing threads; a buffer is reused
 * once both have digested it.  PIPE_NBUF buffers bound the memory (1 MiB per
 * upload) and make the receiving side wait when hashing falls behind.  If a
 * thread cannot be started, that digest is computed inline. */

#define PIPE_NBUF 4
#define PIPE_BUFSZ (256 * 1024)

typedef struct pipeline pipeline;

typedef struct digester {
	pipeline *p;
	EVP_MD_CTX *ctx;
	pthread_t thread;
	bool threaded;
	unsigned tail, count;        /* next slot to digest, slots waiting */
} digester;

struct pipeline {
	imgstore_writer *w;          /* borrowed from the upload */
	digester d[2];               /* MD5, SHA-512 */
	bool locks;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf[PIPE_NBUF];
	size_t len[PIPE_NBUF];
	unsigned head;               /* next slot to fill */
	bool closing, cancel;
	char *fill;                  /* buf[head] while it is being filled */
	size_t fill_len;
};

static void *digest_main(void *arg)
{
	digester *d = arg;
	pipeline *p = d->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (d->count == 0 && !p->closing)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->cancel || d->count == 0)
			break;
		unsigned slot = d->tail;
		pthread_mutex_unlock(&p->mu);
		EVP_DigestUpdate(d->ctx, p->buf[slot], p->len[slot]);
		pthread_mutex_lock(&p->mu);
		d->tail = (slot + 1) % PIPE_NBUF;
		d->count--;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int pipe_open(pipeline *p, imgstore_writer *w)
{
	const EVP_MD *md[2] = { EVP_md5(), EVP_sha512() };
	p->w = w;
	for (int i = 0; i < PIPE_NBUF; i++)
		if (!(p->buf[i] = malloc(PIPE_BUFSZ)))
			return -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->locks = true;
	for (int i = 0; i < 2; i++) {
		digester *d = &p->d[i];
		d->p = p;
		d->ctx = EVP_MD_CTX_new();
		if (!d->ctx || EVP_DigestInit_ex(d->ctx, md[i], NULL) != 1)
			return -1;
		d->threaded = pthread_create(&d->thread, NULL, digest_main, d) == 0;
		if (!d->threaded)
			klog_warn("image", "no hashing thread: hashing inline");
	}
	return 0;
}

/* Stop the hashing threads: after the buffers in flight (finish) or now. */
static void pipe_join(pipeline *p, bool cancel)
{
	if (!p->locks)
		return;
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	p->cancel = cancel;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < 2; i++) {
		if (p->d[i].threaded)
			pthread_join(p->d[i].thread, NULL);
		p->d[i].threaded = false;
	}
}

static void pipe_free(pipeline *p)
{
	pipe_join(p, true);
	for (int i = 0; i < PIPE_NBUF; i++)
		free(p->buf[i]);
	memset(p->buf, 0, sizeof(p->buf));
	for (int i = 0; i < 2; i++) {
		EVP_MD_CTX_free(p->d[i].ctx);
		p->d[i].ctx = NULL;
	}
	if (p->locks) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		p->locks = false;
	}
}

/* Write the buffer being filled, then hand it to the digests. */
static int pipe_flush(pipeline *p)
{
	if (p->fill_len == 0)
		return 0;
	int rc = imgstore_write(p->w, p->fill, p->fill_len);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&p->mu);
	p->len[p->head] = p->fill_len;
	for (int i = 0; i < 2; i++)
		if (p->d[i].threaded)
			p->d[i].count++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < 2; i++)
		if (!p->d[i].threaded)
			EVP_DigestUpdate(p->d[i].ctx, p->fill, p->fill_len);
	p->head = (p->head + 1) % PIPE_NBUF;
	p->fill = NULL;
	p->fill_len = 0;
	return 0;
}

static int pipe_put(pipeline *p, const char *data, size_t n)
{
	while (n > 0) {
		if (!p->fill) {
			/* buf[head] is free once no digest has it waiting */
			pthread_mutex_lock(&p->mu);
			while (p->d[0].count == PIPE_NBUF || p->d[1].count == PIPE_NBUF)
				pthread_cond_wait(&p->cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
			p->fill = p->buf[p->head];
		}
		size_t k = PIPE_BUFSZ - p->fill_len;
		if (k > n)
			k = n;
		memcpy(p->fill + p->fill_len, data, k);
		p->fill_len += k;
		data += k;
		n -= k;
		if (p->fill_len == PIPE_BUFSZ) {
			int rc = pipe_flush(p);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* Everything written and digested: the hex digests, in the pool. */
static int pipe_finish(pipeline *p, kpool *pool, const char **md5, const char **sha512)
{
	int rc = pipe_flush(p);
	if (rc != 0)
		return rc;
	pipe_join(p, false);
	const char **out[2] = { md5, sha512 };
	for (int i = 0; i < 2; i++) {
		unsigned char d[EVP_MAX_MD_SIZE];
		unsigned n = 0;
		if (EVP_DigestFinal_ex(p->d[i].ctx, d, &n) != 1)
			return -ENOMEM;
		_cleanup_free_ char *hex = kutil_hex(d, n);
		if (!hex)
			return -ENOMEM;
		*out[i] = kpool_strdup(pool, hex);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Streamed uploads: PUT /file and PUT /stage. */

typedef struct upload {
	const char *id;
	bool stage;                  /* PUT /stage: queued -> uploading, into staging */
	const char *busy;            /* "saving" or "uploading" */
	bool holding;                /* the image is in `busy` because of us */
	imgstore_writer *w;
	pipeline p;
	uint64_t bytes, cap;
	int64_t start_us;
} upload;

/* Drop what was written and give the image back (Glance's _restore). */
static void upload_discard(upload *u)
{
	pipe_join(&u->p, true);
	if (u->w) {
		imgstore_write_abort(u->w);
		u->w = NULL;
	}
	if (u->holding) {
		u->holding = false;
		if (img_set_status(u->id, u->busy, "queued") != 0)
			klog_warn("image", "image %s left %s while its upload failed", u->id,
			          u->busy);
	}
}

/* Pool destructor: whatever happened, nothing stays open. */
static void upload_release(void *arg)
{
	upload *u = arg;
	upload_discard(u);
	pipe_free(&u->p);
}

/* Answer a store error (negative errno) as Glance's glance_store exceptions. */
static void answer_store_error(kreq *r, const upload *u, int rc)
{
	switch (-rc) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		klog_error("image", "image %s: storage media full", u->id);
		kresp_error(r, 413, "Image storage media is full: There is not enough disk space "
		            "on the image storage media.");
		break;
	case EACCES:
	case EPERM:
	case EROFS:
		klog_error("image", "image %s: cannot write to the store: %s", u->id,
		           strerror(-rc));
		kresp_error(r, 503, "Insufficient permissions on image storage media: Permission "
		            "to write image storage media denied.");
		break;
	default:
		klog_error("image", "image %s: store error: %s", u->id, strerror(-rc));
		kresp_error(r, 500, "Failed to %s image data due to internal error.",
		            u->stage ? "stage" : "upload");
		break;
	}
}

static int upload_data(kreq *r, const char *buf, size_t n)
{
	upload *u = r->stream_state;
	if (u->bytes + n > u->cap) {
		klog_warn("image", "image %s: upload over image_size_cap (%" PRIu64 " bytes)",
		          u->id, u->cap);
		upload_discard(u);
		kresp_error(r, 413, "%s", msg_too_large);
		return -1;
	}
	int rc = pipe_put(&u->p, buf, n);
	if (rc != 0) {
		upload_discard(u);
		answer_store_error(r, u, rc);
		return -1;
	}
	u->bytes += n;
	return 0;
}

static void upload_end(kreq *r, bool complete)
{
	upload *u = r->stream_state;
	if (r->status != 0) {            /* refused mid-body: already cleaned up */
		upload_discard(u);
		return;
	}
	if (!complete) {
		klog_warn("image", "image %s: %s cut off after %" PRIu64 " bytes, back to queued",
		          u->id, u->stage ? "staging" : "upload", u->bytes);
		upload_discard(u);
		return;
	}
	const char *md5, *sha512;
	int rc = pipe_finish(&u->p, r->pool, &md5, &sha512);
	if (rc != 0) {
		upload_discard(u);
		answer_store_error(r, u, rc);
		return;
	}
	rc = imgstore_write_commit(u->w);
	u->w = NULL;
	if (rc != 0) {
		upload_discard(u);
		answer_store_error(r, u, rc);
		return;
	}
	double secs = (double)(kutil_now_us() - u->start_us) / 1e6;
	if (u->stage) {
		json_t *note = json_pack("{s:I, s:s, s:s, s:s}", "size", (json_int_t)u->bytes,
		                         "checksum", md5, "os_hash_algo", "sha512",
		                         "os_hash_value", sha512);
		char *text = note ? json_dumps(note, JSON_COMPACT) : NULL;
		if (!text || imgstore_stage_note_set(u->id, text) != 0)
			klog_warn("image", "image %s: no hash note for the staged data; the import "
			          "will read it again", u->id);
		free(text);
		json_decref(note);
		u->holding = false;
		if (img_set_staged_size(u->id, (int64_t)u->bytes) != 0) {
			/* deleted (404) or moved meanwhile: the staged data is nobody's */
			imgstore_unstage(u->id);
			if (img_get_visible(r, u->id))
				kresp_error(r, 409, "Image %s is no longer waiting for staged "
				            "data.", u->id);
			return;
		}
		klog_info("image", "image %s: staged %" PRIu64 " bytes in %.3f s", u->id, u->bytes,
		          secs);
		kresp_status(r, 204);
		return;
	}
	u->holding = false;
	if (img_set_data(u->id, "saving", (int64_t)u->bytes, md5, "sha512", sha512) != 0) {
		klog_warn("image", "image %s could not be found after upload; removing its data",
		          u->id);
		imgstore_delete(u->id);
		kresp_error(r, 410, "Image %s could not be found after upload. The image may have "
		            "been deleted during the upload, cleaning up the chunks uploaded.",
		            u->id);
		return;
	}
	if (u->bytes >= (1 << 20) && secs > 0)
		klog_info("image", "image %s: %" PRIu64 " bytes uploaded in %.3f s (%.1f MiB/s)",
		          u->id, u->bytes, secs, (double)u->bytes / secs / (1 << 20));
	else
		klog_info("image", "image %s: %" PRIu64 " bytes uploaded", u->id, u->bytes);
	kresp_status(r, 204);
}

static const kstream_ops upload_ops = { .data = upload_data, .end = upload_end };

/* Content-Type must be application/octet-stream (parameters allowed). */
static bool check_octet_stream(kreq *r)
{
	const char *ct = kreq_header(r, "Content-Type");
	if (ct) {
		while (*ct == ' ' || *ct == '\t')
			ct++;
		size_t n = strcspn(ct, ";");
		while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
			n--;
		if (n == 24 && strncasecmp(ct, "application/octet-stream", 24) == 0)
			return true;
	}
	kresp_error(r, 415, "Invalid content type %s",
	            ct ? kpool_strndup(r->pool, ct, strcspn(ct, ";")) : "None");
	return false;
}

/* The announced size: x-openstack-image-size, else Content-Length, else 0.
 * False (400 answered) when x-openstack-image-size is not a number. */
static bool announced_size(kreq *r, uint64_t *size)
{
	const char *h = kreq_header(r, "x-openstack-image-size");
	bool strict = h != NULL;
	if (!h)
		h = kreq_header(r, "Content-Length");
	*size = 0;
	if (!h)
		return true;
	char *end;
	errno = 0;
	while (*h == ' ')
		h++;
	unsigned long long v = strtoull(h, &end, 10);
	while (*end == ' ')
		end++;
	if (*h == '-' || end == h || *end || errno) {
		if (!strict)
			return true;
		kresp_error(r, 400, "Invalid or missing image size in request headers.");
		return false;
	}
	*size = v;
	return true;
}

static void start_upload(kreq *r, bool stage)
{
	const char *id = kreq_param(r, "image_id");
	uint64_t announced;

	if (!check_octet_stream(r) || !announced_size(r, &announced))
		return;
	json_t *img = img_get_visible(r, id);
	if (!img)
		return;
	if (!img_enforce(r, stage ? "modify_image" : "upload_image", img))
		return;
	const char *busy = stage ? "uploading" : "saving";
	const char *status = jstr(img, "status");
	if (!status || strcmp(status, "queued") != 0) {
		kresp_error(r, 409, "Image status transition from %s to %s is not allowed",
		            status ? status : "None", busy);
		return;
	}
	if (!stage) {
		bool df = jstr(img, "disk_format") != NULL;
		bool cf = jstr(img, "container_format") != NULL;
		if (!df && !cf) {
			kresp_error(r, 400, "Properties disk_format, container_format must be set "
			            "prior to saving data.");
			return;
		}
		if (!df || !cf) {
			kresp_error(r, 400, "Property %s must be set prior to saving data.",
			            df ? "container_format" : "disk_format");
			return;
		}
	}
	uint64_t cap = (uint64_t)size_cap();
	if (announced > cap) {
		kresp_error(r, 413, "%s", msg_too_large);
		return;
	}

	upload *u = kpool_alloc(r->pool, sizeof(*u));
	u->id = kpool_strdup(r->pool, id);
	u->stage = stage;
	u->busy = busy;
	u->cap = cap;
	u->start_us = kutil_now_us();
	kpool_defer(r->pool, upload_release, u);
	if (img_set_status(id, "queued", busy) != 0) {
		kresp_error(r, 409, "Image status transition from queued to %s is not allowed: "
		            "the image is no longer queued.", busy);
		return;
	}
	u->holding = true;
	int rc = imgstore_write_open(&u->w, stage ? IMGSTORE_STAGING : IMGSTORE_STORE, id,
	                             announced);
	if (rc != 0) {
		upload_discard(u);
		answer_store_error(r, u, rc);
		return;
	}
	if (pipe_open(&u->p, u->w) != 0) {
		upload_discard(u);
		kresp_error(r, 500, "Failed to upload image data due to internal error.");
		return;
	}
	r->stream_state = u;
	r->stream = &upload_ops;
}

static void h_upload(kreq *r)
{
	start_upload(r, false);
}

static void h_stage(kreq *r)
{
	start_upload(r, true);
}

/* ------------------------------------------------------------------------ */
/* Import. */

/* Size and hashes of the staged data: from the note when it matches the
 * file, else by reading the file. */
static int staged_hashes(kreq *r, const char *id, uint64_t *size, const char **md5,
                         const char **sha512)
{
	int fd = imgstore_open_staged(id, size);
	if (fd < 0)
		return fd;
	_cleanup_free_ char *text = imgstore_stage_note_get(id);
	json_t *note = text ? kpool_json(r->pool, json_loads(text, 0, NULL)) : NULL;
	if (note && json_integer_value(json_object_get(note, "size")) == (json_int_t)*size &&
	    jstr(note, "checksum") && jstr(note, "os_hash_value")) {
		close(fd);
		*md5 = jstr(note, "checksum");
		*sha512 = jstr(note, "os_hash_value");
		return 0;
	}
	/* no usable note: read the staged file once */
	hashes h = { 0 };
	int rc = hashes_init(&h) == 0 ? 0 : -ENOMEM;
	char buf[65536];
	uint64_t total = 0;
	while (rc == 0) {
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k == 0)
			break;
		if (k < 0) {
			if (errno != EINTR)
				rc = -errno;
			continue;
		}
		hashes_update(&h, buf, (size_t)k);
		total += (uint64_t)k;
	}
	close(fd);
	if (rc == 0 && hashes_final(&h, r->pool, md5, sha512) != 0)
		rc = -ENOMEM;
	hashes_free(&h);
	*size = total;
	return rc;
}

static bool json_bool_or_absent(json_t *v)
{
	return !v || json_is_boolean(v);
}

static void h_import(kreq *r)
{
	const char *id = kreq_param(r, "image_id");
	json_t *body = kreq_json(r);
	if (!body)
		return;
	json_t *method = json_object_get(body, "method");
	if (!method) {
		kresp_error(r, 400, "Import request requires a 'method' field.");
		return;
	}
	json_t *name = json_object_get(method, "name");
	if (!name) {
		kresp_error(r, 400, "Import request requires a 'name' field.");
		return;
	}
	if (!json_is_string(name) || strcmp(json_string_value(name), "glance-direct") != 0) {
		char *shown = json_is_string(name) ? NULL : json_dumps(name, JSON_ENCODE_ANY);
		kresp_error(r, 400, "Unknown import method name '%s'.",
		            json_is_string(name) ? json_string_value(name) : shown ? shown : "?");
		free(shown);
		return;
	}
	json_t *must = json_object_get(body, "all_stores_must_succeed");
	if (!json_bool_or_absent(must)) {
		kresp_error(r, 400, "'all_stores_must_succeed' must be boolean value only");
		return;
	}
	if (!json_bool_or_absent(json_object_get(body, "all_stores"))) {
		kresp_error(r, 400, "'all_stores' must be boolean value only");
		return;
	}

	json_t *img = img_get_visible(r, id);
	if (!img)
		return;
	const char *status = jstr(img, "status");
	if (status && strcmp(status, "active") == 0) {
		kresp_error(r, 409, "Image with status active cannot be target for import");
		return;
	}
	if (!status || strcmp(status, "uploading") != 0) {
		kresp_error(r, 409, "Image needs to be staged before 'glance-direct' method can "
		            "be used");
		return;
	}
	if (!jstr(img, "container_format")) {
		kresp_error(r, 409, "'container_format' needs to be set before import");
		return;
	}
	if (!jstr(img, "disk_format")) {
		kresp_error(r, 409, "'disk_format' needs to be set before import");
		return;
	}
	if (!img_enforce(r, "modify_image", img))
		return;
	if (json_is_false(must)) {
		const char *uri = jstr(method, "uri");
		kresp_error(r, 400, "All_stores_must_succeed can only be set with enabled_backends "
		            "%s", uri ? uri : "None");
		return;
	}
	if (img_set_status(id, "uploading", "importing") != 0) {
		kresp_error(r, 409, "Image needs to be staged before 'glance-direct' method can "
		            "be used");
		return;
	}

	uint64_t size = 0;
	const char *md5 = NULL, *sha512 = NULL;
	int rc = staged_hashes(r, id, &size, &md5, &sha512);
	if (rc == 0)
		rc = imgstore_import(id);
	if (rc != 0) {
		klog_error("image", "image %s: import of the staged data failed: %s", id,
		           strerror(-rc));
		imgstore_unstage(id);
		if (img_set_status(id, "importing", "queued") != 0)
			klog_warn("image", "image %s: not importing any more", id);
	} else if (img_set_data(id, "importing", (int64_t)size, md5, "sha512", sha512) != 0) {
		klog_warn("image", "image %s could not be found after import; removing its data",
		          id);
		imgstore_delete(id);
	} else {
		klog_info("image", "image %s: imported %" PRIu64 " bytes (glance-direct)", id,
		          size);
	}
	kresp_status(r, 202);
}

/* ------------------------------------------------------------------------ */
/* Download. */

/* webob's Range.parse(): "bytes=a-b", "bytes=a-", "bytes=-n" (prefix match,
 * case-insensitive, spaces allowed).  end is exclusive, -1 when open. */
static bool parse_range(const char *s, int64_t *start, int64_t *end)
{
	if (strncasecmp(s, "bytes", 5) != 0)
		return false;
	s += 5;
	while (*s == ' ')
		s++;
	if (*s++ != '=')
		return false;
	while (*s == ' ')
		s++;
	char *e;
	bool has_a = *s >= '0' && *s <= '9';
	uint64_t a = has_a ? strtoull(s, &e, 10) : 0;
	if (has_a)
		s = e;
	while (*s == ' ')
		s++;
	if (*s++ != '-')
		return false;
	while (*s == ' ')
		s++;
	bool has_b = *s >= '0' && *s <= '9';
	uint64_t b = has_b ? strtoull(s, &e, 10) : 0;
	if (a > INT64_MAX / 2 || b > INT64_MAX / 2)
		return false;
	if (!has_a) {
		if (!has_b)
			return false;
		*start = -(int64_t)b;
		*end = -1;
		return true;
	}
	*start = (int64_t)a;
	if (!has_b) {
		*end = -1;
		return true;
	}
	*end = (int64_t)b + 1;
	return *start < *end;
}

/* webob's ContentRange.parse(): "bytes a-b/len", or "bytes a-b/" then a star. */
static bool parse_content_range(const char *s, int64_t *start, int64_t *stop, int64_t *length)
{
	unsigned long long a = 0, b = 0, l = 0;
	char tail[4];
	if (sscanf(s, "bytes %llu-%llu/%llu", &a, &b, &l) == 3) {
		*length = (int64_t)l;
	} else if (sscanf(s, "bytes %llu-%llu/%1[*]", &a, &b, tail) == 3) {
		*length = -1;
	} else {
		return false;
	}
	if (a > INT64_MAX / 2 || b > INT64_MAX / 2 || l > INT64_MAX / 2)
		return false;
	*start = (int64_t)a;
	*stop = (int64_t)b + 1;
	if (*start >= *stop)
		return false;
	return *length < 0 || *stop <= *length;
}

static void h_download(kreq *r)
{
	const char *id = kreq_param(r, "image_id");
	json_t *img = img_get_visible(r, id);
	if (!img)
		return;
	const char *status = jstr(img, "status");
	if (status && strcmp(status, "deactivated") == 0 && !is_admin(r)) {
		kresp_error(r, 403, "The requested image has been deactivated. Image data download "
		            "is forbidden.");
		return;
	}
	if (!img_enforce(r, "download_image", img))
		return;
	if (!status || (strcmp(status, "active") != 0 && strcmp(status, "deactivated") != 0)) {
		kresp_status(r, 204);            /* no data yet */
		return;
	}
	uint64_t fsize = 0;
	int fd = imgstore_open(id, &fsize);
	if (fd < 0) {
		if (fd != -ENOENT)
			klog_error("image", "image %s: cannot read its data: %s", id,
			           strerror(-fd));
		else
			klog_warn("image", "image %s is %s but has no data in the store", id,
			          status);
		kresp_status(r, 204);
		return;
	}
	int64_t size = (int64_t)fsize, offset = 0, len = size, last = size - 1;
	bool partial = false;
	const char *range = kreq_header(r, "Range");
	const char *crange = kreq_header(r, "Content-Range");
	if (range) {
		int64_t start, end;
		if (strchr(range, ',')) {
			close(fd);
			kresp_error(r, 400, "Requests with multiple ranges are not supported in "
			            "Glance. You may make multiple single-range requests instead.");
			return;
		}
		if (!parse_range(range, &start, &end)) {
			close(fd);
			kresp_error(r, 416, "Invalid Range header.");
			return;
		}
		if (start >= size) {
			close(fd);
			kresp_header(r, "Content-Range",
			             kpool_printf(r->pool, "bytes */%" PRId64, size));
			kresp_error(r, 416, "Invalid start position in Range header. Start "
			            "position MUST be in the inclusive range [0, %" PRId64 "].",
			            size - 1);
			return;
		}
		if (start < 0)
			offset = -start < size ? size + start : 0;
		else
			offset = start;
		if (end >= 0 && end < size) {
			len = end - offset;
			last = end - 1;
		} else {
			len = size - offset;
		}
		partial = true;
	} else if (crange) {
		int64_t start, stop, length;
		if (!parse_content_range(crange, &start, &stop, &length)) {
			close(fd);
			kresp_error(r, 416, "Invalid Content-Range header.");
			return;
		}
		if (length < 0 && stop > size) {
			close(fd);
			kresp_error(r, 416, "Invalid stop position in Content-Range header. The "
			            "stop position MUST be in the inclusive range "
			            "[0, %" PRId64 "].", size - 1);
			return;
		}
		if (start >= size) {
			close(fd);
			kresp_error(r, 416, "Invalid start position in Content-Range header. Start "
			            "position MUST be in the inclusive range [0, %" PRId64 "].",
			            size - 1);
			return;
		}
		offset = start;
		len = (stop > size ? size : stop) - start;
		last = offset + len - 1;
		partial = true;
	}
	if (partial)
		kresp_header(r, "Content-Range", kpool_printf(r->pool, "bytes %" PRId64 "-%" PRId64
		                                              "/%" PRId64, offset, last, size));
	const char *md5 = jstr(img, "checksum");
	if (md5)
		kresp_header(r, "Content-MD5", md5);
	kresp_file(r, partial ? 206 : 200, fd, (uint64_t)offset, (uint64_t)len,
	           "application/octet-stream");
}

/* ------------------------------------------------------------------------ */
/* Discovery. */

static void h_info_import(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:{s:s, s:s, s:[s]}}", "import-methods",
	                             "description", "Import methods available.",
	                             "type", "array", "value", "glance-direct"));
}

static void h_info_stores(kreq *r)
{
	kresp_error(r, 404, "Multi backend is not supported at this site.");
}

const kroute img_data_routes[] = {
	{ "PUT", "/v2/images/{image_id}/file", h_upload, KROUTE_STREAM },
	{ "GET", "/v2/images/{image_id}/file", h_download, 0 },
	{ "PUT", "/v2/images/{image_id}/stage", h_stage, KROUTE_STREAM },
	{ "POST", "/v2/images/{image_id}/import", h_import, 0 },
	{ "GET", "/v2/info/import", h_info_import, 0 },
	{ "GET", "/v2/info/stores", h_info_stores, 0 },
	{ "GET", "/v2/info/stores/detail", h_info_stores, 0 },
};
const size_t img_data_nroutes = ARRAY_SIZE(img_data_routes);
