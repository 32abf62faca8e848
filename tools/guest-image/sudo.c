/*
 * sudo.c - the guest image's /usr/bin/sudo: a tiny setuid-root "run as root" for the cirros user.
 *
 * cirros images let user cirros run anything as root without a password, and Tempest relies on
 * it ("sudo mount", "sudo sh -c ...", "sudo mke2fs"). Debian's sudo needs PAM and its config,
 * busybox has no sudo applet, so the image builder compiles this file statically (gcc -static)
 * and installs it mode 4755. Policy: root, or a member of group "sudo" (gid 27) or "wheel"
 * (gid 10), may run a command as root; nobody else. Only root can be the target user.
 * Understood options: -u root, -i / -s (login or plain shell), -E (keep the environment),
 * -n -H -S -k (accepted, no effect), -V, and "--". The command is looked up in a root PATH.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUDO_GID 27
#define WHEEL_GID 10
#define ROOT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int sudo_allowed(void)
{
	gid_t groups[64];
	int n, i;

	if (getuid() == 0)
		return 1;
	if (getgid() == SUDO_GID || getgid() == WHEEL_GID)
		return 1;
	n = getgroups(64, groups);
	for (i = 0; i < n; i++)
		if (groups[i] == SUDO_GID || groups[i] == WHEEL_GID)
			return 1;
	return 0;
}

static void sudo_usage(void)
{
	fputs("usage: sudo [-nEHSk] [-u root] [-i | -s] [--] [command [args...]]\n", stderr);
	exit(1);
}

int main(int argc, char **argv)
{
	int keepenv = 0, shell = 0, login = 0;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i] + 1;

		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			puts("Sudo version 1.0 (kumo guest image)");
			return 0;
		}
		for (; *o; o++) {
			switch (*o) {
			case 'E':
				keepenv = 1;
				break;
			case 's':
				shell = 1;
				break;
			case 'i':
				shell = login = 1;
				break;
			case 'n': case 'H': case 'S': case 'k':
				break;
			case 'u': {
				const char *who = o[1] ? o + 1 : (i + 1 < argc ? argv[++i] : NULL);

				if (!who)
					sudo_usage();
				if (strcmp(who, "root") != 0 && strcmp(who, "#0") != 0) {
					fprintf(stderr, "sudo: only root is supported as target user\n");
					return 1;
				}
				o += strlen(o) - 1;
				break;
			}
			default:
				sudo_usage();
			}
		}
	}
	if (!sudo_allowed()) {
		fprintf(stderr, "sudo: permission denied: not in group sudo or wheel\n");
		return 1;
	}
	if (setgroups(0, NULL) != 0 || setgid(0) != 0 || setuid(0) != 0) {
		perror("sudo: cannot become root (is /usr/bin/sudo setuid root?)");
		return 1;
	}
	if (!keepenv || login) {
		setenv("HOME", "/root", 1);
		setenv("USER", "root", 1);
		setenv("LOGNAME", "root", 1);
	}
	setenv("PATH", ROOT_PATH, 1);
	if (login && chdir("/root") != 0)
		perror("sudo: chdir /root");

	if (i >= argc) {
		if (!shell)
			sudo_usage();
		execl("/bin/sh", login ? "-sh" : "sh", (char *)NULL);
	} else if (shell) {
		/* sudo -s cmd args: the shell runs the words as one command line */
		size_t len = 1;
		char *line;
		int j;

		for (j = i; j < argc; j++)
			len += strlen(argv[j]) + 1;
		line = calloc(1, len);
		if (!line)
			return 1;
		for (j = i; j < argc; j++) {
			strcat(line, argv[j]);
			if (j + 1 < argc)
				strcat(line, " ");
		}
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
	} else {
		execvp(argv[i], argv + i);
	}
	fprintf(stderr, "sudo: %s: ", i < argc ? argv[i] : "/bin/sh");
	perror(NULL);
	return 127;
}
