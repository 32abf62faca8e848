/*
 * agent/fake.c - a virt driver that only remembers (Nova's fake driver):
 * for scheduler and API benchmarks, never for real guests.  The default
 * driver is libvirt; this one is chosen with [compute] virt_driver = fake.
 *
 * Domains are a mutex-protected array of {uuid, power state}: spawn adds
 * one running, destroy drops it, the power operations change its state.
 * The host it reports is a fixed, generous machine; disks, consoles,
 * snapshots and VNC do not exist.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "../compute.h"

typedef struct fdom {
	char uuid[40];
	int state;
} fdom;

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static fdom *doms;
static size_t ndoms, capdoms;

static fdom *find(const char *uuid)
{
	for (size_t i = 0; i < ndoms; i++)
		if (strcmp(doms[i].uuid, uuid) == 0)
			return &doms[i];
	return NULL;
}

/* Set the state of an existing domain: 0, or -1 when absent. */
static int set_state(const char *uuid, int state)
{
	pthread_mutex_lock(&fake_mu);
	fdom *d = find(uuid);
	if (d)
		d->state = state;
	pthread_mutex_unlock(&fake_mu);
	return d ? 0 : -1;
}

static int fake_init(void)
{
	return 0;
}

static void fake_fini(void)
{
	pthread_mutex_lock(&fake_mu);
	free(doms);
	doms = NULL;
	ndoms = capdoms = 0;
	pthread_mutex_unlock(&fake_mu);
}

static json_t *fake_host_info(void)
{
	return json_pack("{s:i,s:i,s:i,s:s,s:i,s:s,s:s}", "vcpus", 32, "memory_mb", 131072,
	                 "local_gb", 2048, "hypervisor_type", "fake", "hypervisor_version", 1000,
	                 "hypervisor_hostname", cmp_host(), "cpu_info", "{}");
}

static json_t *fake_list(void)
{
	json_t *o = json_object();
	pthread_mutex_lock(&fake_mu);
	for (size_t i = 0; i < ndoms; i++)
		json_object_set_new(o, doms[i].uuid, json_integer(doms[i].state));
	pthread_mutex_unlock(&fake_mu);
	return o;
}

static int fake_spawn(const cmp_spawn *s, char *err, size_t errlen)
{
	const char *uuid = kjson_str(s->inst, "id");
	if (!uuid) {
		snprintf(err, errlen, "instance without id");
		return -1;
	}
	pthread_mutex_lock(&fake_mu);
	fdom *d = find(uuid);
	if (!d && ndoms == capdoms) {
		size_t cap = capdoms ? 2 * capdoms : 16;
		fdom *nd = realloc(doms, cap * sizeof(fdom));
		if (!nd) {
			pthread_mutex_unlock(&fake_mu);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		doms = nd;
		capdoms = cap;
	}
	if (!d) {
		d = &doms[ndoms++];
		snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
	}
	d->state = CMP_POWER_RUNNING;
	pthread_mutex_unlock(&fake_mu);
	return 0;
}

static int fake_destroy(const char *uuid, bool keep_disks)
{
	(void)keep_disks;
	pthread_mutex_lock(&fake_mu);
	fdom *d = find(uuid);
	if (d)
		*d = doms[--ndoms];
	pthread_mutex_unlock(&fake_mu);
	return 0;
}

static int fake_power_off(const char *uuid, int timeout_s)
{
	(void)timeout_s;
	return set_state(uuid, CMP_POWER_SHUTDOWN);
}

static int fake_power_on(const char *uuid) { return set_state(uuid, CMP_POWER_RUNNING); }
static int fake_reboot(const char *uuid, bool hard) { (void)hard; return fake_power_on(uuid); }
static int fake_pause(const char *uuid) { return set_state(uuid, CMP_POWER_PAUSED); }
static int fake_suspend(const char *uuid) { return set_state(uuid, CMP_POWER_SUSPENDED); }

static int fake_power_state(const char *uuid)
{
	pthread_mutex_lock(&fake_mu);
	fdom *d = find(uuid);
	int st = d ? d->state : -1;
	pthread_mutex_unlock(&fake_mu);
	return st;
}

static char *fake_console_log(const char *uuid, size_t max_bytes)
{
	(void)uuid;
	(void)max_bytes;
	return strdup("");
}

static int fake_snapshot(const char *uuid, const char *out_path, char *err, size_t errlen)
{
	(void)uuid;
	(void)out_path;
	snprintf(err, errlen, "the fake driver has no disks to snapshot");
	return -1;
}

static int fake_migrate(const cmp_spawn *s, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return set_state(kjson_str(s->inst, "id"), CMP_POWER_SHUTDOWN) == 0 ? 0 : -1;
}

static int fake_finish(const cmp_spawn *s, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return set_state(kjson_str(s->inst, "id"), CMP_POWER_RUNNING) == 0 ? 0 : -1;
}

static int fake_confirm(const char *uuid)
{
	(void)uuid;
	return 0;
}

static int fake_vnc(const char *uuid, char *host, size_t hostlen, int *port)
{
	(void)uuid;
	(void)host;
	(void)hostlen;
	(void)port;
	return -1;
}

const cmp_virt_driver cmp_fake_driver = {
	.name = "fake",
	.init = fake_init,
	.fini = fake_fini,
	.host_info = fake_host_info,
	.list_instances = fake_list,
	.spawn = fake_spawn,
	.destroy = fake_destroy,
	.power_off = fake_power_off,
	.power_on = fake_power_on,
	.reboot = fake_reboot,
	.pause = fake_pause,
	.unpause = fake_power_on,
	.suspend = fake_suspend,
	.resume = fake_power_on,
	.power_state = fake_power_state,
	.console_log = fake_console_log,
	.snapshot = fake_snapshot,
	.migrate_disk_and_power_off = fake_migrate,
	.finish_migration = fake_finish,
	.confirm_migration = fake_confirm,
	.finish_revert_migration = fake_finish,
	.vnc_address = fake_vnc,
};
