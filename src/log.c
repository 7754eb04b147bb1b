/* log.c: stderr logging with a program-name prefix (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_prog = "kubetun";
static int log_verbose;

void kt_log_init(const char *progname, int verbosity)
{
	log_prog = progname;
	log_verbose = verbosity;
}

int kt_log_verbosity(void)
{
	return log_verbose;
}

__attribute__((format(printf, 1, 0))) static void log_vline(const char *fmt, va_list ap,
							    const char *suffix)
{
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	if (suffix)
		fprintf(stderr, "%s: %s: %s\n", log_prog, line, suffix);
	else
		fprintf(stderr, "%s: %s\n", log_prog, line);
}

void kt_log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_vline(fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void kt_log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(fmt, ap, NULL);
	va_end(ap);
}

void kt_log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(fmt, ap, NULL);
	va_end(ap);
}

void kt_log_debug(const char *fmt, ...)
{
	if (log_verbose < 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vline(fmt, ap, NULL);
	va_end(ap);
}

void kt_fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vline(fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
