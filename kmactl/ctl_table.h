#ifndef KMA_CTL_TABLE_H
#define KMA_CTL_TABLE_H

/*
 * Column-aligned text tables for kmactl's human output (the kubectl/etcdctl look): cells
 * separated by two spaces, every column as wide as its widest cell, the last column not
 * padded. The table copies the cells it is given.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ctl_table {
	size_t ncols;
	size_t nrows;
	size_t cap;   /* rows allocated */
	char **cells; /* nrows * ncols copies */
	bool failed;  /* an allocation failed: ctl_table_print refuses */
};

/* An empty table of ncols columns (at least 1). Cannot fail. */
void ctl_table_init(struct ctl_table *t, size_t ncols);

/* Appends a row of ncols cells (NULL cells print as ""). Sets failed when out of memory. */
void ctl_table_add(struct ctl_table *t, const char *const *row);

/* Prints the table to out. 0, or -1 when an allocation failed earlier. */
int ctl_table_print(const struct ctl_table *t, FILE *out) __attribute__((warn_unused_result));

/* Frees the cells; the table is empty again. NULL is fine. */
void ctl_table_free(struct ctl_table *t);

#endif
