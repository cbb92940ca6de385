#ifndef KMA_AGENT_TTLV_H
#define KMA_AGENT_TTLV_H

/*
 * KMIP 1.x binary TTLV (Tag, Type, Length, Value), bounded both ways.
 *
 * Every item is a 3-byte tag (0x42xxxx for the standard's tags), a 1-byte type, a 4-byte
 * big-endian length of the value, then the value padded with zeros to a multiple of 8
 * bytes. A Structure's value is its children, one after the other.
 *
 * Encoder: writes into a buffer the caller owns and never grows it; a call that does not
 * fit marks the encoder failed and every later call does nothing, so a builder checks once,
 * at ttlv_enc_finish. Structures nest up to TTLV_DEPTH_MAX.
 *
 * Decoder: ttlv_decode checks a whole message before anyone reads a field of it, and
 * flattens it into an array of items in document order (each item knows its parent), so
 * that a reader walks it without recursion. Refused: an unknown type, a length that does
 * not suit the type (Integer 4, Long Integer 8, Enumeration 4, Boolean 8 holding 0 or 1,
 * Date-Time 8, Interval 4, Big Integer a multiple of 8), a value or its padding beyond its
 * parent's end or the input's, a Structure whose children do not fill it exactly, nesting
 * deeper than TTLV_DEPTH_MAX, more items than the caller's array, and bytes after the
 * top-level item. Padding bytes are not checked: KMIP asks senders for zeros, and a
 * reader gains nothing by refusing others.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTLV_DEPTH_MAX 16
#define TTLV_HEADER    8

enum ttlv_type {
	TTLV_STRUCTURE = 0x01,
	TTLV_INTEGER = 0x02,
	TTLV_LONG = 0x03,
	TTLV_BIG_INTEGER = 0x04,
	TTLV_ENUMERATION = 0x05,
	TTLV_BOOLEAN = 0x06,
	TTLV_TEXT = 0x07,
	TTLV_BYTES = 0x08,
	TTLV_DATETIME = 0x09,
	TTLV_INTERVAL = 0x0A,
};

struct ttlv_enc {
	unsigned char *buf;
	size_t cap, len;
	size_t open[TTLV_DEPTH_MAX]; /* offsets of the open structures' headers */
	unsigned depth;
	bool failed;
};

/* Starts writing into buf (cap bytes); cannot fail. */
void ttlv_enc_init(struct ttlv_enc *e, unsigned char *buf, size_t cap);

/* Opens a Structure; its length is written by the matching ttlv_end. */
void ttlv_begin(struct ttlv_enc *e, uint32_t tag);
void ttlv_end(struct ttlv_enc *e);

void ttlv_put_int(struct ttlv_enc *e, uint32_t tag, int32_t v);
void ttlv_put_long(struct ttlv_enc *e, uint32_t tag, int64_t v);
void ttlv_put_enum(struct ttlv_enc *e, uint32_t tag, uint32_t v);
void ttlv_put_bool(struct ttlv_enc *e, uint32_t tag, bool v);
void ttlv_put_datetime(struct ttlv_enc *e, uint32_t tag, int64_t seconds);
void ttlv_put_text(struct ttlv_enc *e, uint32_t tag, const char *s, size_t len);
void ttlv_put_bytes(struct ttlv_enc *e, uint32_t tag, const void *b, size_t len);

/*
 * The message's length, or 0 when it did not fit, a structure is still open, a tag is
 * wider than 24 bits or too many structures were nested.
 */
size_t ttlv_enc_finish(struct ttlv_enc *e) __attribute__((warn_unused_result));

/* One decoded item; val points into the decoded input, which must outlive it. */
struct ttlv_item {
	uint32_t tag;
	uint8_t type;
	uint8_t depth;  /* 0 for the top-level item */
	int32_t parent; /* index of the enclosing Structure, -1 for the top-level item */
	uint32_t len;   /* of the value, without padding */
	uint32_t next;  /* index of the item after this one and all it contains */
	const unsigned char *val;
};

enum ttlv_status {
	TTLV_OK = 0,
	TTLV_ERR_TRUNCATED, /* the input ends inside an item */
	TTLV_ERR_TYPE,      /* an unknown type */
	TTLV_ERR_LENGTH,    /* a length that does not suit its type or its parent */
	TTLV_ERR_DEPTH,     /* nested deeper than TTLV_DEPTH_MAX */
	TTLV_ERR_COUNT,     /* more items than the array holds */
	TTLV_ERR_TRAILING,  /* bytes after the top-level item */
	TTLV_ERR_VALUE,     /* a Boolean that is neither 0 nor 1 */
};

/*
 * Decodes the one top-level item in buf[0..len) into items[0..max); *n gets the count.
 * On failure *off (when not NULL) gets the offset of the offending item.
 */
enum ttlv_status ttlv_decode(const unsigned char *buf, size_t len, struct ttlv_item *items,
                             size_t max, size_t *n, size_t *off)
    __attribute__((warn_unused_result));

/* What an error is, in a few words ("truncated", ...). */
const char *ttlv_status_str(enum ttlv_status st);

/*
 * How many bytes the message starting with the 8-byte header hdr occupies in all (header,
 * value, padding), or 0 when its type is not Structure: what a reader off a stream waits for.
 */
size_t ttlv_message_size(const unsigned char hdr[TTLV_HEADER]);

/*
 * The first child of items[parent] with this tag (and, when type is non-zero, this type),
 * starting at index from (0: from the first child); -1 when none.
 */
int ttlv_child(const struct ttlv_item *items, size_t n, int parent, uint32_t tag, uint8_t type,
               int from);

/* Values of checked items (ttlv_decode checked their lengths). */
int32_t ttlv_int(const struct ttlv_item *it);
uint32_t ttlv_enum(const struct ttlv_item *it);
int64_t ttlv_long(const struct ttlv_item *it);

#endif
