/* log.h: the daemon's and tools' logging (OpenBSD log.h style).
 *
 * One line per message to stderr, prefixed by the program name set with kt_log_init. Debug
 * lines appear only with verbosity >= 1 (-v). Never pass a token, key or certificate to these
 * functions: nothing here can redact them. */
#ifndef KT_LOG_H
#define KT_LOG_H

#include <stdnoreturn.h>

void kt_log_init(const char *progname, int verbosity);
int kt_log_verbosity(void);
void kt_log_warn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2))); /* + strerror(errno) */
void kt_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kt_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kt_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void kt_fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
