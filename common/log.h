/* Levelled one-line key=value logging to stderr.
 *
 * mdm_log(MDM_LOG_INFO, "event=migrate_applied version=%d", v) writes
 * `ts=2026-11-27T05:00:00.123Z level=info src=file.c:12 event=migrate_applied version=1`.
 * The macro tests the level before evaluating its arguments. Customer data (names,
 * emails, phones, addresses) is logged only at DEBUG; ids at any level. Thread-safe:
 * each line is written with one fputs on a locked stream. */
#ifndef MDM_COMMON_LOG_H
#define MDM_COMMON_LOG_H

typedef enum mdm_log_level {
    MDM_LOG_DEBUG = 0,
    MDM_LOG_INFO = 1,
    MDM_LOG_WARN = 2,
    MDM_LOG_ERROR = 3,
    MDM_LOG_OFF = 4
} mdm_log_level;

extern mdm_log_level mdm_log_threshold;

#define mdm_log(level, ...)                                                                        \
    do {                                                                                           \
        if ((level) >= mdm_log_threshold)                                                          \
            mdm_log_write((level), __FILE__, __LINE__, __VA_ARGS__);                               \
    } while (0)

void mdm_log_write(mdm_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses "debug", "info", "warn", "error", "off"; returns -1 for anything else. */
int mdm_log_level_parse(const char *name);

#endif
