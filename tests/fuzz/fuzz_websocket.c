/*
 * fuzz_websocket.c - libFuzzer target for the console proxy's WebSocket
 * frame parser (cmp_ws_parse in src/compute/console.c): the bytes a browser
 * - or anyone reaching port 6080 with a valid token - sends.
 *
 * The input is parsed as a stream of frames, the way the bridge does.  The
 * oracles, besides ASan/UBSan:
 *   - a complete frame's length is its header plus payload, never beyond
 *     the bytes given, and the payload never exceeds max_payload;
 *   - "need more" (0) holds for every prefix of a complete frame: feeding
 *     the frame byte by byte gives 0 until its last byte, then the same
 *     result as the whole (parsing is a function of the frame alone);
 *   - an error is a valid RFC 6455 close code (1002 or 1009), and
 *     control frames that parse are final and at most 125 bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/compute.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_websocket: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the first byte picks the payload limit: small ones reach 1009 often */
	size_t max = size > 0 ? (size_t)data[0] * 37 : 1024 * 1024;
	const unsigned char *p = size > 0 ? data + 1 : data;
	size_t n = size > 0 ? size - 1 : 0;

	while (n > 0) {
		cmp_ws_frame f;
		long r = cmp_ws_parse(p, n, max, &f);
		if (r < 0) {
			check(r == -1002 || r == -1009, "unexpected error code");
			return 0;
		}
		if (r == 0)
			return 0;
		check((size_t)r <= n, "frame longer than the input");
		check(f.header_len + f.payload_len == (size_t)r, "length mismatch");
		check(f.header_len >= 6 && f.header_len <= 14, "header size");
		check(f.payload_len <= max, "payload above the limit");
		check(f.masked, "unmasked frame accepted");
		if (f.opcode >= 8)
			check(f.fin && f.payload_len <= 125, "bad control frame accepted");
		/* every strict prefix needs more bytes */
		for (size_t k = 0; k < (size_t)r && k < 64; k++) {
			cmp_ws_frame g;
			long q = cmp_ws_parse(p, k, max, &g);
			check(q == 0, "a prefix of a valid frame did not ask for more");
		}
		cmp_ws_frame g;
		check(cmp_ws_parse(p, (size_t)r, max, &g) == r && g.payload_len == f.payload_len,
		      "the frame alone parses differently");
		p += r;
		n -= (size_t)r;
	}
	return 0;
}
