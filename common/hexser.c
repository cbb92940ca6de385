#include "hexser.h"

#include <ctype.h>
#include <string.h>

void hexser_format(const unsigned char *raw, size_t len, char *out)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 0xf];
	}
	out[2 * len] = '\0';
}

bool hexser_normalize(const char *in, char *out, size_t size)
{
	size_t n = 0;

	if (!in || size == 0)
		return false;
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == ':' || c == ' ')
			continue;
		if (!isxdigit(c) || n + 1 >= size)
			return false;
		out[n++] = (char)toupper(c);
	}
	out[n] = '\0';
	return n > 0;
}

bool hexser_equal(const char *a, const char *b)
{
	char na[KMA_SERIAL_SIZE], nb[KMA_SERIAL_SIZE];

	return hexser_normalize(a, na, sizeof(na)) && hexser_normalize(b, nb, sizeof(nb)) &&
	       strcmp(na, nb) == 0;
}
