/* table.h: aligned text tables for the CLI's human output.
 *
 * A table owns copies of its cells. Column widths are computed over every row in display
 * columns (UTF-8 code points, every one assumed one column wide); columns are separated by two
 * spaces and the last column is not padded, so lines carry no trailing blanks. Colour is an
 * SGR code per cell (e.g. "32"), applied only when printing with colour on; the first row is
 * the header and is printed bold with colour on. */
#ifndef KT_CLI_TABLE_H
#define KT_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct kt_table;

struct kt_table *kt_table_new(size_t ncols);
void kt_table_free(struct kt_table *t); /* NULL is a no-op */
/* Starts a new row; cells are then added left to right. 0 or -ENOMEM. */
int kt_table_row(struct kt_table *t);
/* Adds a cell (text copied; NULL prints "-"; sgr NULL: no colour). Extra cells are ignored;
 * missing ones print empty. 0 or -ENOMEM. */
int kt_table_cell(struct kt_table *t, const char *text, const char *sgr);
int kt_table_cellf(struct kt_table *t, const char *sgr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t kt_table_rows(const struct kt_table *t);
void kt_table_print(const struct kt_table *t, FILE *f, bool colour);

#endif
