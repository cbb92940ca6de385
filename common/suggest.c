#include "suggest.h"

#include <ctype.h>
#include <string.h>

static unsigned min3(unsigned a, unsigned b, unsigned c)
{
	unsigned m = a < b ? a : b;

	return m < c ? m : c;
}

unsigned suggest_distance(const char *a, const char *b)
{
	/* three rows of the dynamic programme: two back (for swaps), the last one, this one */
	unsigned buf[3][SUGGEST_WORD_MAX + 1];
	unsigned *before = buf[0], *last = buf[1], *cur = buf[2], *t;
	size_t la = strlen(a), lb = strlen(b);

	if (la > SUGGEST_WORD_MAX || lb > SUGGEST_WORD_MAX)
		return SUGGEST_WORD_MAX + 1;
	for (size_t j = 0; j <= lb; j++)
		last[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		int ca = tolower((unsigned char)a[i - 1]);

		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			int cb = tolower((unsigned char)b[j - 1]);

			cur[j] = min3(last[j] + 1, cur[j - 1] + 1, last[j - 1] + (ca != cb));
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && before[j - 2] + 1 < cur[j])
				cur[j] = before[j - 2] + 1;
		}
		t = before;
		before = last;
		last = cur;
		cur = t;
	}
	return last[lb];
}

const char *suggest_nearest(const char *word, const char *const *known, size_t n)
{
	const char *best = NULL;
	unsigned best_d = 0;

	for (size_t i = 0; i < n; i++) {
		size_t longer;
		unsigned d, limit;

		if (!known[i])
			continue;
		longer = strlen(word) > strlen(known[i]) ? strlen(word) : strlen(known[i]);
		limit = longer / 3 ? (unsigned)(longer / 3) : 1;
		d = suggest_distance(word, known[i]);
		if (d <= limit && (!best || d < best_d)) {
			best = known[i];
			best_d = d;
		}
	}
	return best;
}
