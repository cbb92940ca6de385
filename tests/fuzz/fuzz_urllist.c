/*
 * What the agent and kmactl take from a coordinator instance they ask (common/urllist.h): a
 * standby's body and its X-KMA-Active header, bytes from the network; and URL lists as
 * configured. Checks the contract: a header's value fits and is trimmed, the failover rule
 * always lands on a configured URL and ends a round within as many steps as URLs.
 */

#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "urllist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char active[64], text[2048], why[200];
	struct urllist l = {0};
	struct urllist_cursor c;
	size_t steps = 0;

	(void)urllist_standby(503, data, size);
	if (urllist_active_header((const char *)data, size, active, sizeof(active))) {
		FUZZ_CHECK(strlen(active) < sizeof(active));
		FUZZ_CHECK(!active[0] || (active[0] != ' ' && active[strlen(active) - 1] != ' '));
	}
	snprintf(text, sizeof(text), "%.*s", (int)size, (const char *)data);
	if (urllist_add(&l, text, why, sizeof(why)) != 0) {
		FUZZ_CHECK(l.n == 0);
		return 0;
	}
	FUZZ_CHECK(l.n >= 1 && l.n <= URLLIST_MAX);
	urllist_cursor_init(&c);
	/* every URL a standby naming the next one, or the input's header value */
	while (urllist_failed(&l, &c, steps % 2 ? active : l.url[(c.at + 1) % l.n])) {
		FUZZ_CHECK(c.at < l.n);
		FUZZ_CHECK(++steps < l.n);
	}
	FUZZ_CHECK(c.at < l.n);
	for (size_t i = 0; i < l.n; i++)
		FUZZ_CHECK(urllist_find(&l, l.url[i]) == i);
	return 0;
}
