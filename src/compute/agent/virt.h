/*
 * virt.h - what the libvirt driver (libvirt.c) and the image cache
 * (imagecache.c) share: the instances directory layout and running the
 * qemu-img tool.  Internal to src/compute/agent; the driver interface itself
 * is cmp_virt_driver in compute.h.
 *
 * Layout under [compute] instances_path:
 *   _base/<sha1 hex of image id>   the image as a RAW file (shared, 0644)
 *   <uuid>/disk                    qcow2 overlay backed by the _base file
 *   <uuid>/disk.backup             resize: the disk before the resize
 *   <uuid>/console.log             serial console (libvirt appends)
 *   <uuid>/disk.config             config drive (when there is one)
 */
#ifndef KUMO_COMPUTE_VIRT_H
#define KUMO_COMPUTE_VIRT_H

#include <jansson.h>
#include <stdint.h>
#include "core/common.h"

/* Make <path> and <path>/_base and remember them; parents of path get o+x so
 * the libvirt-qemu user can reach the disks.  0, or -1 with err set. */
int cmp_imagecache_init(const char *instances_path, char *err, size_t errlen);
const char *cmp_imagecache_base_dir(void);

/* Make sure _base holds the image (the instance's "image" JSON: id,
 * disk_format, size) as a raw file: download it from the Image API with the
 * service token, check the size, convert qcow2 (and other formats qemu-img
 * reads) to raw, rename into place.  One download per image at a time;
 * parallel callers wait and reuse it.  path gets the base file's path. */
int cmp_imagecache_fetch(const json_t *image, char *path, size_t pathlen, char *err,
                         size_t errlen);
/* The same from a local file (tests, and images already on disk):
 * disk_format "qcow2", "raw", ... */
int cmp_imagecache_import(const char *src, const char *image_id, const char *disk_format,
                          char *path, size_t pathlen, char *err, size_t errlen);
/* The base file path of an image id (whether or not it exists). */
void cmp_imagecache_base_path(const char *image_id, char *path, size_t pathlen);

/* qemu-img create -f qcow2 -F raw -b base disk [root_gb G]: the overlay is
 * root_gb GiB when that is larger than the base, else the base's size
 * (root_gb 0 = the image's size).  Replaces an existing disk. */
int cmp_imagecache_create_disk(const char *base, const char *disk, long root_gb, char *err,
                               size_t errlen);
/* qemu-img info --output=json (the parsed document) or NULL with err set. */
json_t *cmp_qemu_img_info(const char *path, const char *fmt, char *err, size_t errlen);

/* Run a tool (argv[0] a bare name looked up in /usr/sbin:/usr/bin:/sbin:/bin)
 * with posix_spawn and a clean environment.  *out (if not NULL) gets stdout
 * (malloc'd).  Returns the exit status (0 = success), with the last line of
 * stderr in err on failure; -1 when it could not run. */
int cmp_virt_run(const char *const *argv, char **out, char *err, size_t errlen);

#endif
