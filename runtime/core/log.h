/* Logging: STRATA_DEBUG=WARN|INFO|TRACE (default WARN), to stderr or STRATA_DEBUG_FILE. */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

typedef enum { STRATA_LOG_NONE = 0, STRATA_LOG_WARN, STRATA_LOG_INFO, STRATA_LOG_TRACE } strata_log_level_t;

extern int strata_log_level_v;
void strata_log_init(void);
void strata_log_emit(strata_log_level_t lvl, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define STRATA_LOG(lvl, ...)                                                   \
  do {                                                                         \
    if ((int)(lvl) <= strata_log_level_v)                                      \
      strata_log_emit((lvl), __FILE__, __LINE__, __VA_ARGS__);                 \
  } while (0)
#define SLOG_WARN(...) STRATA_LOG(STRATA_LOG_WARN, __VA_ARGS__)
#define SLOG_INFO(...) STRATA_LOG(STRATA_LOG_INFO, __VA_ARGS__)
#define SLOG_TRACE(...) STRATA_LOG(STRATA_LOG_TRACE, __VA_ARGS__)

#endif
