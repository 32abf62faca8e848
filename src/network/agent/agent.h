/*
 * agent.h - what the Network agents (the agent/ files) share: running `ip`, `nft`
 * and daemons, namespaces and links, device names, and the reconcile
 * framework that runs each agent as a thread of the kumo process.
 *
 * Every agent is a reconciler: a nag_agent describes it, agents.c runs its
 * reconcile() on a thread of its own at start, every [network]
 * resync_interval seconds and shortly after change notifications (bus topic
 * "network-agent", see net_notify()), which are coalesced: many changes in a
 * burst give one run.  reconcile() reads the database (net_db), compares
 * with what exists on the host and applies only the differences, so running
 * it twice in a row changes nothing the second time.  The data plane is
 * left in place when kumo stops: a restarted agent adopts it.
 *
 * Names (Neutron's): bridge "brq" + first 11 chars of the network id, tap
 * "tap" + first 11 chars of the port id, namespaces "qdhcp-<network id>" and
 * "qrouter-<router id>".  Port status (ACTIVE/DOWN) and binding:host_id are
 * written by the L2 agent only: a port is ACTIVE while a device
 * tap<11 chars of its id> exists on this host and sits in its network's
 * bridge.  The DHCP and L3 agents create their veths with the host end
 * named that way and call nag_l2_plug() to enslave it at once.
 *
 * Several clouds may share one machine (make up, each test's own kumo): an
 * agent only changes or removes what its own database names or what it
 * marked as its own under <state_dir> (bridges, qdhcp namespaces), and
 * per-cloud names (nag_cloud_tag()) for global things like nft tables.
 *
 * Safety: agents only create, change and delete devices named as above (and
 * the uplinks they make for provider networks: <iface>.<vid>, vxlan-<vni>);
 * the interfaces named by [network] physical_interface_mappings are only
 * enslaved and set up, never addressed, and refused when they carry an IPv4
 * address or the default route.
 */
#ifndef KUMO_NETWORK_AGENT_H
#define KUMO_NETWORK_AGENT_H

#include <jansson.h>
#include <sys/types.h>
#include "core/common.h"

/* ---- running programs (ipcmd.c) ---- */

/* Absolute path of a tool ("ip", "nft", "dnsmasq"), found in /usr/sbin,
 * /sbin, /usr/bin, /bin; NULL when missing. */
const char *nag_tool(const char *name);

enum {
	NAG_QUIET = 1,     /* don't log a failure (the caller expects some) */
};

/*
 * Run argv (argv[0] a tool name or an absolute path; NULL-terminated) and
 * wait for it.  stdin_text (NULL = /dev/null) is written to its stdin;
 * stdout is returned in *out (malloc'd, NUL-terminated) when out != NULL.
 * A failure is logged at warning level with the command and its stderr,
 * unless NAG_QUIET.  The child gets a default signal mask and
 * dispositions, no inherited descriptor but 0-2, and a session of its own
 * (daemons it starts outlive kumo).
 * Returns the exit status (0 = success), 128 + signal when killed, -1 when
 * it could not be started.
 */
int nag_runv(unsigned flags, const char *stdin_text, char **out, const char *const *argv);
/* The same with a printf-style command line split on spaces (no quoting:
 * only for names, numbers and addresses). */
int nag_run(unsigned flags, char **out, const char *fmt, ...) _printf_(3, 4);
/* `ip <args>`, or `ip -n <ns> <args>` when ns != NULL. */
int nag_ip(unsigned flags, const char *ns, const char *fmt, ...) _printf_(3, 4);
/* `nft -f -` with ruleset on stdin (one transaction: all or nothing), in
 * namespace ns when not NULL. */
int nag_nft(const char *ns, const char *ruleset);
/* argv inside namespace ns (`ip netns exec ns argv...`). */
int nag_ns_runv(const char *ns, unsigned flags, const char *stdin_text, char **out,
                const char *const *argv);

/* ---- namespaces, links, sysctls (netns.c) ---- */

bool nag_ns_exists(const char *ns);
int nag_ns_ensure(const char *ns);         /* `ip netns add` + lo up; 0 if it exists */
int nag_ns_delete(const char *ns);         /* `ip netns delete`; 0 if absent */
/* Names of the namespaces starting with prefix (new array of strings). */
json_t *nag_ns_list(const char *prefix);
/* Identity of a namespace (inode of /run/netns/<ns>), 0 when absent: tells
 * a namespace re-created under the same name. */
ino_t nag_ns_inode(const char *ns);

/* Host-namespace links (from /sys/class/net). */
bool nag_link_exists(const char *dev);
/* Names of the host links starting with prefix (new array of strings). */
json_t *nag_link_list(const char *prefix);
/* The bridge dev is enslaved to (malloc'd) or NULL. */
char *nag_link_master(const char *dev);
bool nag_link_is_bridge(const char *dev);
bool nag_link_up(const char *dev);         /* administratively up (IFF_UP) */
/* MAC address ("aa:bb:...") of a host link into out; false if absent. */
bool nag_link_mac(const char *dev, char out[18]);
/* Links of a bridge (new array of strings). */
json_t *nag_bridge_ports(const char *bridge);
/* Links inside namespace ns (`ip -j -n ns link`), new array of objects as ip
 * prints them ("ifname", "address", "operstate", ...); NULL on error. */
json_t *nag_ns_links(const char *ns);
/* Addresses of dev in ns (NULL = host) as "addr/prefixlen" strings, link-local
 * IPv6 excluded (new array; NULL on error). */
json_t *nag_addrs(const char *ns, const char *dev);

/* Call fn(ud) on a short-lived thread that has joined namespace ns
 * (setns(2)); returns fn's result, or -1 when the namespace can't be
 * entered.  A socket created there stays in that namespace, so a server in
 * kumo can listen inside a namespace. */
int nag_in_netns(const char *ns, int (*fn)(void *ud), void *ud);

/* Write a /proc/sys file ("net/bridge/bridge-nf-call-iptables"); 0 or -1. */
int nag_sysctl(const char *key, const char *value);

/* ---- names and identity ---- */

#define NAG_ID_CHARS 11
/* prefix (<= 4 chars) + the first 11 characters of id: "tap34ea740c-a6". */
void nag_devname(char out[16], const char *prefix, const char *id);
void nag_bridge_name(char out[16], const char *network_id);   /* brq... */
/* This host's name: [DEFAULT] host, else gethostname(). */
const char *nag_host(void);
/* <state_dir>/<sub>, created (0755) when missing; malloc'd. */
char *nag_state_path(const char *sub);
/* 8 hex chars naming this cloud among others on the same machine (a hash
 * of its state_dir): per-cloud names for shared things (nft tables). */
const char *nag_cloud_tag(void);

/* ---- L2 (l2.c) ---- */

/* Make the bridge of network_id (with its provider uplink) exist and put
 * host link dev in it, up (the DHCP and L3 agents plug their taps with it
 * instead of waiting for the L2 agent's next pass).  0 or -1. */
int nag_l2_plug(const char *network_id, const char *dev);
/* Bus handler of topic "l2_agent.<host>" (ensure_network, port_plugged). */
json_t *nag_l2_rpc(void *ud, const char *method, json_t *args);

/* ---- firewall (firewall.c), driven by the L2 agent ---- */

/* Install the security groups and anti-spoofing of the ports plugged here:
 * `plugged` maps tap name -> port id (taps in their bridge), `bridges` maps
 * bridge name -> network id.  Rebuilds the nftables tables in one
 * transaction when the generated ruleset changed (or when force).  0 or -1. */
int nag_fw_apply(json_t *plugged, json_t *bridges, bool force);
/* Remove the firewall tables (nothing plugged any more). */
void nag_fw_clear(void);

/* ---- the agent framework (agents.c) ---- */

/* What changed, as a bit set passed to reconcile(). */
enum {
	NAG_CH_NETWORK = 1 << 0,
	NAG_CH_SUBNET = 1 << 1,
	NAG_CH_PORT = 1 << 2,
	NAG_CH_SECGROUP = 1 << 3,
	NAG_CH_ROUTER = 1 << 4,
	NAG_CH_FLOATINGIP = 1 << 5,
	NAG_CH_LINK = 1 << 6,        /* a host link appeared or vanished */
	NAG_CH_NETNS = 1 << 7,       /* another agent changed namespaces */
	NAG_CH_FULL = 1 << 30,       /* start and periodic resync: check everything */
};

typedef struct nag_agent {
	const char *name;           /* "l2", "dhcp", "metadata", "l3": thread and log name */
	const char *agent_type;     /* net_agent.agent_type: "Linux bridge agent" */
	const char *binary;         /* "neutron-linuxbridge-agent" */
	const char *topic;          /* "N/A", "dhcp_agent", "l3_agent" */
	int (*init)(void);          /* on start, before the first reconcile (optional) */
	/* One pass; `changes` is a NAG_CH_* set (NAG_CH_FULL on start/resync). */
	void (*reconcile)(unsigned changes);
	/* net_agent.configurations (new reference; optional). */
	json_t *(*configurations)(void);
	void (*fini)(void);         /* on stop, after the last reconcile (optional) */
} nag_agent;

/* The agents (l3.c's is optional: a weak reference in agents.c). */
extern const nag_agent nag_l2_agent, nag_dhcp_agent, nag_metadata_agent, nag_l3_agent;

/* Wake agent `name` ("l2", "dhcp", "metadata", "l3"; NULL = all) for a
 * batched reconcile with these changes.  Cheap; callable from any thread. */
void nag_kick(const char *name, unsigned changes);
/* [network] integer options with defaults (resync_interval ...). */
long nag_conf_int(const char *key, long def);
const char *nag_conf(const char *key, const char *def);

#endif
