#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int strata_log_level_v = STRATA_LOG_WARN;
static FILE *log_out;
static char log_host[64];

void strata_log_init(void) {
  const char *v = getenv("STRATA_DEBUG");
  if (v) {
    if (!strcasecmp(v, "NONE") || !strcmp(v, "0")) strata_log_level_v = STRATA_LOG_NONE;
    else if (!strcasecmp(v, "WARN")) strata_log_level_v = STRATA_LOG_WARN;
    else if (!strcasecmp(v, "INFO")) strata_log_level_v = STRATA_LOG_INFO;
    else if (!strcasecmp(v, "TRACE")) strata_log_level_v = STRATA_LOG_TRACE;
  }
  const char *f = getenv("STRATA_DEBUG_FILE");
  if (f && *f) {
    char path[512];
    /* %h -> hostname, %p -> pid, as NCCL_DEBUG_FILE */
    size_t o = 0;
    for (const char *s = f; *s && o + 32 < sizeof path; s++) {
      if (s[0] == '%' && s[1] == 'p') { o += (size_t)snprintf(path + o, sizeof path - o, "%d", (int)getpid()); s++; }
      else if (s[0] == '%' && s[1] == 'h') { gethostname(path + o, 64); path[o + 63] = 0; o = strlen(path); s++; }
      else path[o++] = *s;
    }
    path[o] = 0;
    log_out = fopen(path, "a");
  }
  gethostname(log_host, sizeof log_host - 1);
}

void strata_log_emit(strata_log_level_t lvl, const char *file, int line, const char *fmt, ...) {
  static const char *names[] = {"NONE", "WARN", "INFO", "TRACE"};
  FILE *o = log_out ? log_out : stderr;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  if (lvl == STRATA_LOG_TRACE)
    fprintf(o, "%s:%d STRATA %s %s:%d %s\n", log_host, (int)getpid(), names[lvl], base, line, msg);
  else
    fprintf(o, "%s:%d STRATA %s %s\n", log_host, (int)getpid(), names[lvl], msg);
  fflush(o);
}
