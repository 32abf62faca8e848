/*
 * fuzz_token.c - libFuzzer target for the token path: untrusted strings into
 * idfernet_decrypt() and untrusted bytes into the payload decoder.
 *
 * A key repository is set up once in a temporary directory.  Each input is
 * used three ways; the oracles, besides ASan/UBSan:
 *   - as a token string: idfernet_decrypt() must not crash, and since nobody
 *     without the key can make a valid token, it must fail (-1);
 *   - as a payload: idtoken_payload_decode() either rejects it or accepts
 *     it, and then encoding the result gives back exactly the input (the
 *     format has one encoding per payload);
 *   - as a payload sealed with our key: decrypting gives the input back, and
 *     the same token with one character changed (position and value chosen
 *     by the input) is rejected.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "identity/identity.h"

#define FUZZ_MAX_INPUT 4096

static char repo[64];

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_token: invariant violated: %s\n", what);
		abort();
	}
}

static void remove_repo(void)
{
	DIR *d = opendir(repo);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[256];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", repo, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(repo);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	klog_init(NULL, KLOG_ERROR);
	snprintf(repo, sizeof(repo), "/tmp/kumo-fuzz-token-XXXXXX");
	if (!mkdtemp(repo) || idfernet_setup(repo) != 0 || idfernet_load(repo) != 0) {
		fprintf(stderr, "fuzz_token: cannot set up a key repository\n");
		abort();
	}
	atexit(remove_repo);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	unsigned char out[FUZZ_MAX_INPUT + 64];

	/* 1. the input as a token string */
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	check(idfernet_decrypt(s, out, sizeof(out), NULL) == -1, "a forged token decrypted");
	free(s);

	/* 2. the input as a payload */
	id_payload p;
	if (idtoken_payload_decode(data, size, &p) == 0) {
		unsigned char again[512];
		long n = idtoken_payload_encode(&p, again, sizeof(again));
		check(n == (long)size && memcmp(again, data, size) == 0,
		      "decode/encode round trip changed the payload");
		check(p.scope >= ID_SCOPE_UNSCOPED && p.scope <= ID_SCOPE_SYSTEM, "bad scope");
		check(p.naudit == 1 || p.naudit == 2, "bad audit id count");
		check(strlen(p.user_id) > 0 && strlen(p.user_id) <= ID_MAX_ID, "bad user id");
	}

	/* 3. the input sealed with our key */
	if (size > 1024)
		return 0;
	char *tok = idfernet_encrypt(data, size);
	check(tok != NULL, "encrypt failed");
	int64_t ts = 0;
	long n = idfernet_decrypt(tok, out, sizeof(out), &ts);
	check(n == (long)size && memcmp(out, data, size) == 0, "seal/open round trip failed");
	check(ts > 0, "no timestamp");
	size_t len = strlen(tok);
	if (size >= 2 && len > 0) {
		static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                            "0123456789-_";
		size_t pos = ((size_t)data[0] << 8 | data[1]) % len;
		char c = alpha[data[size - 1] % 64];
		if (tok[pos] != c) {
			tok[pos] = c;
			check(idfernet_decrypt(tok, out, sizeof(out), NULL) == -1,
			      "a tampered token decrypted");
		}
	}
	free(tok);
	return 0;
}
