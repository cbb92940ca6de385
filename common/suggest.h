#ifndef KMA_SUGGEST_H
#define KMA_SUGGEST_H

/*
 * "Did you mean": the nearest of a list of known words to one that is not known, for the
 * messages of both CLIs and of the configuration readers. Near means an optimal string
 * alignment distance (insertions, deletions, substitutions and swaps of two neighbours, each
 * 1; case ignored) of at most a third of the longer word, and at least 1: `stabilize` finds
 * `stabilise`, `diagnsoe` finds `diagnose`, `x` finds nothing.
 */

#include <stddef.h>

/* The longest word compared; longer words are never near anything. */
#define SUGGEST_WORD_MAX 64

/*
 * The nearest of the n words (NULL entries are skipped), or NULL when none is near enough;
 * the first of equally near ones.
 */
const char *suggest_nearest(const char *word, const char *const *known, size_t n);

/* Their distance as above, or SUGGEST_WORD_MAX + 1 when either is longer than that. */
unsigned suggest_distance(const char *a, const char *b);

#endif
