#include "ttlv.h"

#include <string.h>

static void put_be(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

void ttlv_enc_init(struct ttlv_enc *e, unsigned char *buf, size_t cap)
{
	memset(e, 0, sizeof(*e));
	e->buf = buf;
	e->cap = cap;
}

/* Writes a header and the value with its padding; returns the value's offset or 0. */
static size_t put_item(struct ttlv_enc *e, uint32_t tag, uint8_t type, const void *val, size_t len)
{
	size_t padded = (len + 7) & ~(size_t)7, at;

	if (e->failed || tag > 0xFFFFFFu || len > 0x7FFFFFF0u || padded > e->cap ||
	    e->len > e->cap - padded || e->cap - padded - e->len < TTLV_HEADER) {
		e->failed = true;
		return 0;
	}
	put_be(e->buf + e->len, tag, 3);
	e->buf[e->len + 3] = type;
	put_be(e->buf + e->len + 4, len, 4);
	at = e->len + TTLV_HEADER;
	if (len)
		memcpy(e->buf + at, val, len);
	memset(e->buf + at + len, 0, padded - len);
	e->len = at + padded;
	return at;
}

void ttlv_begin(struct ttlv_enc *e, uint32_t tag)
{
	size_t at = e->len;

	if (e->failed || e->depth >= TTLV_DEPTH_MAX) {
		e->failed = true;
		return;
	}
	if (put_item(e, tag, TTLV_STRUCTURE, NULL, 0) == 0)
		return;
	e->open[e->depth++] = at;
}

void ttlv_end(struct ttlv_enc *e)
{
	size_t at;

	if (e->failed || e->depth == 0) {
		e->failed = true;
		return;
	}
	at = e->open[--e->depth];
	put_be(e->buf + at + 4, e->len - at - TTLV_HEADER, 4);
}

void ttlv_put_int(struct ttlv_enc *e, uint32_t tag, int32_t v)
{
	unsigned char b[4];

	put_be(b, (uint32_t)v, 4);
	put_item(e, tag, TTLV_INTEGER, b, 4);
}

void ttlv_put_long(struct ttlv_enc *e, uint32_t tag, int64_t v)
{
	unsigned char b[8];

	put_be(b, (uint64_t)v, 8);
	put_item(e, tag, TTLV_LONG, b, 8);
}

void ttlv_put_enum(struct ttlv_enc *e, uint32_t tag, uint32_t v)
{
	unsigned char b[4];

	put_be(b, v, 4);
	put_item(e, tag, TTLV_ENUMERATION, b, 4);
}

void ttlv_put_bool(struct ttlv_enc *e, uint32_t tag, bool v)
{
	unsigned char b[8];

	put_be(b, v ? 1 : 0, 8);
	put_item(e, tag, TTLV_BOOLEAN, b, 8);
}

void ttlv_put_datetime(struct ttlv_enc *e, uint32_t tag, int64_t seconds)
{
	unsigned char b[8];

	put_be(b, (uint64_t)seconds, 8);
	put_item(e, tag, TTLV_DATETIME, b, 8);
}

void ttlv_put_text(struct ttlv_enc *e, uint32_t tag, const char *s, size_t len)
{
	put_item(e, tag, TTLV_TEXT, s, len);
}

void ttlv_put_bytes(struct ttlv_enc *e, uint32_t tag, const void *b, size_t len)
{
	put_item(e, tag, TTLV_BYTES, b, len);
}

size_t ttlv_enc_finish(struct ttlv_enc *e)
{
	return e->failed || e->depth != 0 ? 0 : e->len;
}

/* The value length a fixed-size type must have; 0 for variable ones. */
static uint32_t fixed_len(uint8_t type)
{
	switch (type) {
	case TTLV_INTEGER:
	case TTLV_ENUMERATION:
	case TTLV_INTERVAL:
		return 4;
	case TTLV_LONG:
	case TTLV_BOOLEAN:
	case TTLV_DATETIME:
		return 8;
	default:
		return 0;
	}
}

enum ttlv_status ttlv_decode(const unsigned char *buf, size_t len, struct ttlv_item *items,
                             size_t max, size_t *n, size_t *off)
{
	size_t pos = 0, count = 0, ends[TTLV_DEPTH_MAX];
	int open[TTLV_DEPTH_MAX];
	unsigned depth = 0;
	enum ttlv_status ret = TTLV_ERR_TRUNCATED;

	*n = 0;
	for (;;) {
		size_t limit, total;
		uint64_t vlen, padded;
		uint8_t type;
		struct ttlv_item *it;

		/* Close the structures that end here. */
		while (depth > 0 && ends[depth - 1] == pos) {
			depth--;
			items[open[depth]].next = (uint32_t)count;
		}
		if (depth == 0 && count > 0) {
			ret = pos == len ? TTLV_OK : TTLV_ERR_TRAILING;
			break;
		}
		limit = depth > 0 ? ends[depth - 1] : len;
		if (limit - pos < TTLV_HEADER) {
			/* Inside a structure that ends before the input, its length was the lie. */
			ret = limit < len ? TTLV_ERR_LENGTH : TTLV_ERR_TRUNCATED;
			break;
		}
		if (count >= max) {
			ret = TTLV_ERR_COUNT;
			break;
		}
		type = buf[pos + 3];
		vlen = get_be(buf + pos + 4, 4);
		padded = type == TTLV_STRUCTURE ? vlen : (vlen + 7) & ~(uint64_t)7;
		if (type < TTLV_STRUCTURE || type > TTLV_INTERVAL) {
			ret = TTLV_ERR_TYPE;
			break;
		}
		if ((fixed_len(type) && vlen != fixed_len(type)) ||
		    (type == TTLV_BIG_INTEGER && vlen % 8 != 0) ||
		    (type == TTLV_STRUCTURE && vlen % 8 != 0)) {
			ret = TTLV_ERR_LENGTH;
			break;
		}
		if (padded > limit - pos - TTLV_HEADER) {
			ret = limit < len ? TTLV_ERR_LENGTH : TTLV_ERR_TRUNCATED;
			break;
		}
		if (type == TTLV_BOOLEAN && get_be(buf + pos + TTLV_HEADER, 8) > 1) {
			ret = TTLV_ERR_VALUE;
			break;
		}
		it = &items[count];
		it->tag = (uint32_t)get_be(buf + pos, 3);
		it->type = type;
		it->depth = (uint8_t)depth;
		it->parent = depth > 0 ? open[depth - 1] : -1;
		it->len = (uint32_t)vlen;
		it->val = buf + pos + TTLV_HEADER;
		it->next = (uint32_t)count + 1;
		total = TTLV_HEADER + (size_t)padded;
		if (type == TTLV_STRUCTURE) {
			if (depth >= TTLV_DEPTH_MAX) {
				ret = TTLV_ERR_DEPTH;
				break;
			}
			open[depth] = (int)count;
			ends[depth++] = pos + total;
			pos += TTLV_HEADER;
		} else {
			pos += total;
		}
		count++;
	}
	if (ret != TTLV_OK) {
		if (off)
			*off = pos;
		return ret;
	}
	*n = count;
	return TTLV_OK;
}

const char *ttlv_status_str(enum ttlv_status st)
{
	switch (st) {
	case TTLV_OK:
		return "ok";
	case TTLV_ERR_TRUNCATED:
		return "truncated";
	case TTLV_ERR_TYPE:
		return "unknown item type";
	case TTLV_ERR_LENGTH:
		return "length does not suit the item's type or its structure";
	case TTLV_ERR_DEPTH:
		return "structures nested too deep";
	case TTLV_ERR_COUNT:
		return "too many items";
	case TTLV_ERR_TRAILING:
		return "bytes after the message";
	case TTLV_ERR_VALUE:
		return "a boolean neither 0 nor 1";
	}
	return "?";
}

size_t ttlv_message_size(const unsigned char hdr[TTLV_HEADER])
{
	uint64_t vlen = get_be(hdr + 4, 4);

	if (hdr[3] != TTLV_STRUCTURE)
		return 0;
	return TTLV_HEADER + (size_t)vlen;
}

int ttlv_child(const struct ttlv_item *items, size_t n, int parent, uint32_t tag, uint8_t type,
               int from)
{
	size_t i = from > 0 ? (size_t)from : (size_t)parent + 1;
	size_t end = parent >= 0 && (size_t)parent < n ? items[parent].next : n;

	if (parent < 0 || (size_t)parent >= n || items[parent].type != TTLV_STRUCTURE)
		return -1;
	while (i < end && i < n) {
		if (items[i].parent == parent && items[i].tag == tag &&
		    (type == 0 || items[i].type == type))
			return (int)i;
		i = items[i].next > i ? items[i].next : i + 1;
	}
	return -1;
}

int32_t ttlv_int(const struct ttlv_item *it)
{
	return (int32_t)(uint32_t)get_be(it->val, 4);
}

uint32_t ttlv_enum(const struct ttlv_item *it)
{
	return (uint32_t)get_be(it->val, 4);
}

int64_t ttlv_long(const struct ttlv_item *it)
{
	return (int64_t)get_be(it->val, 8);
}
