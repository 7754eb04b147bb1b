/* table.c: aligned text tables (see table.h). Cells are stored row-major in one growing array;
 * each cell owns its text. */
#include "table.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cell {
	char *text; /* owned */
	const char *sgr;
};

struct kt_table {
	size_t ncols;
	size_t nrows;
	size_t cur;	    /* next column of the last row */
	struct cell *cells; /* owned; nrows * ncols */
	size_t cap;	    /* rows allocated */
};

struct kt_table *kt_table_new(size_t ncols)
{
	if (ncols == 0)
		return NULL;
	struct kt_table *t = calloc(1, sizeof(*t));
	if (t)
		t->ncols = ncols;
	return t;
}

void kt_table_free(struct kt_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].text);
	free(t->cells);
	free(t);
}

int kt_table_row(struct kt_table *t)
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		if (ncap > SIZE_MAX / sizeof(struct cell) / t->ncols)
			return -ENOMEM;
		struct cell *n = realloc(t->cells, ncap * t->ncols * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->cells = n;
		t->cap = ncap;
	}
	memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof(struct cell));
	t->nrows++;
	t->cur = 0;
	return 0;
}

int kt_table_cell(struct kt_table *t, const char *text, const char *sgr)
{
	if (t->nrows == 0 || t->cur >= t->ncols)
		return 0;
	char *copy = strdup(text ? text : "-");
	if (!copy)
		return -ENOMEM;
	struct cell *c = &t->cells[(t->nrows - 1) * t->ncols + t->cur++];
	c->text = copy;
	c->sgr = sgr;
	return 0;
}

int kt_table_cellf(struct kt_table *t, const char *sgr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return kt_table_cell(t, buf, sgr);
}

size_t kt_table_rows(const struct kt_table *t)
{
	return t->nrows;
}

/* Display width: code points, i.e. bytes that are not UTF-8 continuation bytes. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; s && *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void kt_table_print(const struct kt_table *t, FILE *f, bool colour)
{
	size_t *w = calloc(t->ncols, sizeof(*w));
	if (!w)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = width(t->cells[r * t->ncols + c].text);
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		/* Trailing empty cells are not printed, so no line ends in blanks. */
		size_t last = t->ncols;
		while (last > 0 && width(t->cells[r * t->ncols + last - 1].text) == 0)
			last--;
		for (size_t c = 0; c < last; c++) {
			const struct cell *cell = &t->cells[r * t->ncols + c];
			const char *text = cell->text ? cell->text : "";
			const char *sgr = r == 0 ? "1" : cell->sgr;
			if (colour && sgr && *text)
				fprintf(f, "\033[%sm%s\033[0m", sgr, text);
			else
				fputs(text, f);
			if (c + 1 < last)
				fprintf(f, "%*s", (int)(w[c] - width(text) + 2), "");
		}
		fputc('\n', f);
	}
	free(w);
}
