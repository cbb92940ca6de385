#include "ctl_table.h"

#include <stdlib.h>
#include <string.h>

void ctl_table_init(struct ctl_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols ? ncols : 1;
}

void ctl_table_add(struct ctl_table *t, const char *const *row)
{
	char **cells;
	size_t base;

	if (t->failed)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;

		cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));
		if (!cells) {
			t->failed = true;
			return;
		}
		t->cells = cells;
		t->cap = cap;
	}
	base = t->nrows * t->ncols;
	for (size_t c = 0; c < t->ncols; c++) {
		t->cells[base + c] = strdup(row[c] ? row[c] : "");
		if (!t->cells[base + c]) {
			while (c-- > 0)
				free(t->cells[base + c]);
			t->failed = true;
			return;
		}
	}
	t->nrows++;
}

int ctl_table_print(const struct ctl_table *t, FILE *out)
{
	size_t *width;

	if (t->failed)
		return -1;
	width = calloc(t->ncols, sizeof(*width));
	if (!width)
		return -1;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);

			if (n > width[c])
				width[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				fprintf(out, "%s\n", s);
			else
				fprintf(out, "%-*s  ", (int)width[c], s);
		}
	}
	free(width);
	return 0;
}

void ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	ctl_table_init(t, t->ncols);
}
