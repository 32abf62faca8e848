/*
 * ipcmd.c - how the agents run programs: `ip`, `nft`, dnsmasq.
 *
 * Everything goes through nag_runv(), built on posix_spawn(): kumo is a
 * multi-threaded process that blocks SIGTERM/SIGINT/SIGHUP in every thread
 * and holds listening sockets and database files, so a child must get a
 * default signal mask and dispositions (a dnsmasq with SIGHUP blocked would
 * never reload), only descriptors 0-2 (a daemon keeping port 9696 open would
 * stop kumo from restarting) and a session of its own.  stdin text is fed
 * and stdout/stderr are drained together with poll(), so no pipe can fill
 * up and deadlock; a command still running after a minute is killed, so a
 * hung tool can't stall an agent for ever.  A failing command is logged with its stderr, which is
 * where `ip` and `nft` explain themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "network/agent/agent.h"

#define MAX_ARGS 64
#define RUN_TIMEOUT_MS 60000

const char *nag_tool(const char *name)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
	static __thread char path[256];
	if (name[0] == '/')
		return access(name, X_OK) == 0 ? name : NULL;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return path;
	}
	return NULL;
}

/* A growable buffer filled from a pipe. */
typedef struct sbuf {
	char *data;
	size_t len, cap;
} sbuf;

static int sbuf_read(sbuf *b, int fd)
{
	if (b->cap - b->len < 4096) {
		size_t ncap = b->cap ? b->cap * 2 : 8192;
		char *n = realloc(b->data, ncap);
		if (!n)
			return -1;
		b->data = n;
		b->cap = ncap;
	}
	ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
	if (n > 0) {
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	return (int)n;
}

static char *cmdline_text(const char *const *argv)
{
	size_t n = 1;
	for (int i = 0; argv[i]; i++)
		n += strlen(argv[i]) + 1;
	char *s = calloc(1, n);
	if (!s)
		return NULL;
	for (int i = 0; argv[i]; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/* Feed stdin and drain stdout/stderr until both close. */
static void pump(pid_t pid, int in, const char *text, int out, int err, sbuf *ob, sbuf *eb)
{
	size_t off = 0, tlen = text ? strlen(text) : 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (in >= 0 && tlen == 0) {
		close(in);
		in = -1;
	}
	while (in >= 0 || out >= 0 || err >= 0) {
		struct pollfd p[3];
		int n = 0, iin = -1, iout = -1, ierr = -1;
		if (in >= 0) {
			p[n] = (struct pollfd){ .fd = in, .events = POLLOUT };
			iin = n++;
		}
		if (out >= 0) {
			p[n] = (struct pollfd){ .fd = out, .events = POLLIN };
			iout = n++;
		}
		if (err >= 0) {
			p[n] = (struct pollfd){ .fd = err, .events = POLLIN };
			ierr = n++;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = RUN_TIMEOUT_MS - ((now.tv_sec - start.tv_sec) * 1000L +
		                              (now.tv_nsec - start.tv_nsec) / 1000000L);
		int rc = left > 0 ? poll(p, (nfds_t)n, (int)left) : 0;
		if (rc == 0) {
			/* a hung tool (or a daemon that kept our pipes) must not stall the agent */
			klog_warn("network-agent", "command %d still running after %d s: killed",
			          (int)pid, RUN_TIMEOUT_MS / 1000);
			kill(pid, SIGKILL);
			break;
		}
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (iin >= 0 && p[iin].revents) {
			/* non-blocking: a full pipe must not stop us draining stdout */
			ssize_t w = write(in, text + off, tlen - off);
			if (w > 0)
				off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || off >= tlen) {
				close(in);
				in = -1;
			}
		}
		if (iout >= 0 && p[iout].revents && sbuf_read(ob, out) <= 0) {
			close(out);
			out = -1;
		}
		if (ierr >= 0 && p[ierr].revents && sbuf_read(eb, err) <= 0) {
			close(err);
			err = -1;
		}
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
}

int nag_runv(unsigned flags, const char *stdin_text, char **out, const char *const *argv)
{
	if (out)
		*out = NULL;
	const char *path = nag_tool(argv[0]);
	if (!path) {
		if (!(flags & NAG_QUIET))
			klog_error("network-agent", "%s: not found (tools/install-deps.sh installs "
			           "it)", argv[0]);
		return -1;
	}
	_cleanup_free_ char *exe = strdup(path);
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	if ((stdin_text && pipe2(pin, O_CLOEXEC) != 0) || (out && pipe2(pout, O_CLOEXEC) != 0) ||
	    pipe2(perr, O_CLOEXEC) != 0) {
		int fds[] = { pin[0], pin[1], pout[0], pout[1], perr[0], perr[1] };
		for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
			closep(&fds[i]);
		klog_error("network-agent", "pipe: %s", strerror(errno));
		return -1;
	}

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	if (stdin_text)
		posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	                              POSIX_SPAWN_SETSID);
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	pid_t pid;
	int rc = posix_spawn(&pid, exe, &fa, &at, (char *const *)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	closep(&pin[0]);
	closep(&pout[1]);
	closep(&perr[1]);
	if (pin[1] >= 0)
		fcntl(pin[1], F_SETFL, fcntl(pin[1], F_GETFL) | O_NONBLOCK);
	if (rc != 0) {
		closep(&pin[1]);
		closep(&pout[0]);
		closep(&perr[0]);
		klog_error("network-agent", "cannot run %s: %s", exe, strerror(rc));
		return -1;
	}

	sbuf ob = { 0 }, eb = { 0 };
	pump(pid, pin[1], stdin_text, pout[0], perr[0], &ob, &eb);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (status != 0 && !(flags & NAG_QUIET)) {
		_cleanup_free_ char *cmd = cmdline_text(argv);
		char *e = eb.data ? eb.data : "";
		size_t el = strlen(e);
		while (el > 0 && (e[el - 1] == '\n' || e[el - 1] == ' '))
			e[--el] = '\0';
		klog_warn("network-agent", "`%.300s` failed (%d): %.600s", cmd, status, e);
	}
	free(eb.data);
	if (out)
		*out = ob.data ? ob.data : strdup("");
	else
		free(ob.data);
	return status;
}

/* Split a formatted command on spaces into argv (in place in buf). */
static int split_args(char *buf, const char **argv, int max, int start)
{
	int n = start;
	for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && n < max - 1;
	     tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	return n;
}

int nag_run(unsigned flags, char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *buf = NULL;
	int n = vasprintf(&buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	const char *argv[MAX_ARGS];
	if (split_args(buf, argv, MAX_ARGS, 0) == 0)
		return -1;
	return nag_runv(flags, NULL, out, argv);
}

int nag_ip(unsigned flags, const char *ns, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *buf = NULL;
	int n = vasprintf(&buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	const char *argv[MAX_ARGS] = { "ip" };
	int start = 1;
	if (ns) {
		argv[1] = "-n";
		argv[2] = ns;
		start = 3;
	}
	split_args(buf, argv, MAX_ARGS, start);
	return nag_runv(flags, NULL, NULL, argv);
}

int nag_ns_runv(const char *ns, unsigned flags, const char *stdin_text, char **out,
                const char *const *argv)
{
	const char *full[MAX_ARGS] = { "ip", "netns", "exec", ns };
	int n = 4;
	for (int i = 0; argv[i] && n < MAX_ARGS - 1; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	/* ip netns exec runs argv[0] through PATH: give it the absolute path */
	const char *tool = nag_tool(argv[0]);
	_cleanup_free_ char *abs = tool ? strdup(tool) : NULL;
	if (abs)
		full[4] = abs;
	return nag_runv(flags, stdin_text, out, full);
}

int nag_nft(const char *ns, const char *ruleset)
{
	static const char *const argv[] = { "nft", "-f", "-", NULL };
	if (ns)
		return nag_ns_runv(ns, 0, ruleset, NULL, argv);
	return nag_runv(0, ruleset, NULL, argv);
}
