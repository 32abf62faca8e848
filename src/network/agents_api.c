/*
 * agents_api.c - /v2.0/agents (Neutron's "agent" extension): the agents of
 * the data plane as the net_agent table knows them.
 *
 * The agents (agent/) write their own rows and heartbeats; this file only
 * shows them, lets an admin change admin_state_up and description, and
 * deletes rows of agents that are gone (a running agent writes its row again
 * at its next heartbeat, as in Neutron).  "alive" means a heartbeat within
 * [network] agent_down_time seconds (75 by default, Neutron's).  Times are
 * shown as Neutron shows them: "2026-11-26 04:05:41" (UTC, no zone).
 *
 * Policy: everything is admin-only; a non-admin listing agents gets an empty
 * list (Neutron filters the items it may not see) and a 404 for one agent.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/util.h"
#include "common.h"
#include "network.h"

#define AGENT_COLS \
	"id, agent_type, binary_name, host, topic, admin_state_up, heartbeat_at, started_at," \
	" created_at, configurations, availability_zone, description"

static void internal_error(kreq *r)
{
	net_error(r, 500, "HTTPInternalServerError", "Request Failed: internal server error while "
	          "processing your request.");
}

/* "YYYY-MM-DD HH:MM:SS" of a time in microseconds (UTC). */
static json_t *agent_time(const json_t *us)
{
	if (!json_is_integer(us) || json_integer_value(us) <= 0)
		return json_null();
	time_t t = (time_t)(json_integer_value(us) / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	return json_string(buf);
}

/* In place: a net_agent row -> Neutron's agent view. */
static void agent_view(json_t *o, int64_t now)
{
	long down = kumo_conf ? kconf_get_int(kumo_conf, "network", "agent_down_time", 75) : 75;
	json_t *hb = json_object_get(o, "heartbeat_at");
	int64_t beat = json_is_integer(hb) ? json_integer_value(hb) : 0;
	json_object_set_new(o, "alive", json_boolean(beat > 0 && now - beat <= down * 1000000LL));
	json_object_set_new(o, "heartbeat_timestamp", agent_time(hb));
	json_object_del(o, "heartbeat_at");
	json_object_set_new(o, "started_at", agent_time(json_object_get(o, "started_at")));
	json_object_set_new(o, "created_at", agent_time(json_object_get(o, "created_at")));
	net_rename(o, "binary_name", "binary");
	net_bools(o, "admin_state_up", NULL);
	const char *conf = kjson_str(o, "configurations");
	json_t *c = conf ? json_loads(conf, 0, NULL) : NULL;
	json_object_set_new(o, "configurations", json_is_object(c) ? c : json_object());
	if (c && !json_is_object(c))
		json_decref(c);
	json_t *d = json_object_get(o, "description");
	if (json_is_string(d) && json_string_length(d) == 0)
		json_object_set_new(o, "description", json_null());
	if (!json_object_get(o, "availability_zone"))
		json_object_set_new(o, "availability_zone", json_null());
	json_object_set_new(o, "resources_synced", json_null());
}

/* One agent's view (new reference) or NULL. */
static json_t *agent_get(const char *id)
{
	bool found;
	json_t *row = kdb_query_row(net_db, &found, "SELECT " AGENT_COLS " FROM net_agent"
	                            " WHERE id = ?", "s", id);
	if (row)
		agent_view(row, kutil_now_us());
	return row;
}

static void agent_not_found(kreq *r, const char *id)
{
	net_error(r, 404, "AgentNotFound", "Agent %s could not be found.", id);
}

static const char *const agent_sort_keys[] = {
	"id", "agent_type", "binary", "host", "topic", "admin_state_up", NULL
};

static void list_agents(kreq *r)
{
	net_listq *q = net_listq_parse(r, agent_sort_keys);
	if (!q)
		return;
	if (!net_is_admin(r)) {
		net_respond_list(r, "agents", json_array(), q);
		return;
	}
	json_t *rows = kdb_query_json(net_db, "SELECT " AGENT_COLS " FROM net_agent"
	                              " ORDER BY created_at, id", "");
	if (!rows) {
		internal_error(r);
		return;
	}
	int64_t now = kutil_now_us();
	size_t i;
	json_t *o;
	json_array_foreach(rows, i, o)
		agent_view(o, now);
	net_respond_list(r, "agents", rows, q);
}

static void show_agent(kreq *r)
{
	const char *id = kreq_param(r, "agent_id");
	json_t *a = agent_get(id);
	if (!a) {
		agent_not_found(r, id);
		return;
	}
	if (!net_enforce(r, "get_agent", a)) {
		json_decref(a);
		return;
	}
	net_respond_one(r, 200, "agent", a);
}

static const net_attr agent_attrs[] = {
	{ .name = "admin_state_up", .type = NET_A_BOOL, .flags = NET_A_PUT },
	{ .name = "description", .type = NET_A_STRING, .flags = NET_A_PUT | NET_A_NULL },
	{ .name = "id", .type = NET_A_ANY, .flags = 0 },
	{ .name = "agent_type", .type = NET_A_ANY, .flags = 0 },
	{ .name = "binary", .type = NET_A_ANY, .flags = 0 },
	{ .name = "topic", .type = NET_A_ANY, .flags = 0 },
	{ .name = "host", .type = NET_A_ANY, .flags = 0 },
	{ .name = "created_at", .type = NET_A_ANY, .flags = 0 },
	{ .name = "started_at", .type = NET_A_ANY, .flags = 0 },
	{ .name = "heartbeat_timestamp", .type = NET_A_ANY, .flags = 0 },
	{ .name = "alive", .type = NET_A_ANY, .flags = 0 },
	{ .name = "configurations", .type = NET_A_ANY, .flags = 0 },
};

static void update_agent(kreq *r)
{
	const char *id = kreq_param(r, "agent_id");
	json_t *objs = net_body(r, "agent", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, agent_attrs, ARRAY_SIZE(agent_attrs), false))
		return;
	_cleanup_json_ json_t *a = agent_get(id);
	if (!a) {
		agent_not_found(r, id);
		return;
	}
	if (!net_enforce_attrs(r, "update_agent", obj, a))
		return;
	json_t *asu = json_object_get(obj, "admin_state_up");
	json_t *desc = json_object_get(obj, "description");
	bool ok = true;
	if (asu)
		ok = kdb_run(net_db, NULL, "UPDATE net_agent SET admin_state_up = ? WHERE id = ?",
		             "bs", json_is_true(asu), id) == KDB_DONE;
	if (ok && desc)
		ok = kdb_run(net_db, NULL, "UPDATE net_agent SET description = ? WHERE id = ?",
		             "ss", json_is_string(desc) ? json_string_value(desc) : "", id) ==
		     KDB_DONE;
	if (!ok) {
		internal_error(r);
		return;
	}
	net_notify("agent", id);
	json_t *out = agent_get(id);
	if (!out) {
		agent_not_found(r, id);
		return;
	}
	net_respond_one(r, 200, "agent", out);
}

static void delete_agent(kreq *r)
{
	const char *id = kreq_param(r, "agent_id");
	_cleanup_json_ json_t *a = agent_get(id);
	if (!a) {
		agent_not_found(r, id);
		return;
	}
	if (!net_enforce(r, "delete_agent", a))
		return;
	if (kdb_run(net_db, NULL, "DELETE FROM net_agent WHERE id = ?", "s", id) != KDB_DONE) {
		internal_error(r);
		return;
	}
	kresp_status(r, 204);
}

const kroute net_agent_routes[] = {
	{ "GET", "/v2.0/agents", list_agents, 0 },
	{ "GET", "/v2.0/agents/{agent_id}", show_agent, 0 },
	{ "PUT", "/v2.0/agents/{agent_id}", update_agent, 0 },
	{ "DELETE", "/v2.0/agents/{agent_id}", delete_agent, 0 },
};
const size_t net_agent_nroutes = ARRAY_SIZE(net_agent_routes);
