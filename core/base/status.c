/* Status names and the thread-local error message. */
#include <stdarg.h>
#include <stdio.h>

#include "pixeldit/status.h"

static _Thread_local char last_error[1024];

const char *pd_status_name(pd_status s) {
    switch (s) {
    case PD_OK: return "ok";
    case PD_ERR_SHAPE: return "shape";
    case PD_ERR_ARG: return "argument";
    case PD_ERR_NOMEM: return "out of memory";
    case PD_ERR_STATE: return "state";
    case PD_ERR_IO: return "io";
    case PD_ERR_FORMAT: return "format";
    case PD_ERR_CONFIG: return "config";
    case PD_ERR_PLUGIN: return "plugin";
    case PD_ERR_NUMERIC: return "numeric";
    case PD_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}

const char *pd_last_error(void) { return last_error; }

void pd_clear_error(void) { last_error[0] = '\0'; }

pd_status pd_fail(pd_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}
