/* pixeldit/status.h - status codes and the per-thread error message.
 *
 * Every library function that can fail returns a pd_status (or NULL for
 * constructors) and leaves a one-line, human-readable explanation in a
 * thread-local buffer read with pd_last_error(). libpixeldit never exits.
 */
#ifndef PIXELDIT_STATUS_H
#define PIXELDIT_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

typedef enum pd_status {
    PD_OK = 0,
    PD_ERR_SHAPE = 1,       /* shapes do not match what the op needs */
    PD_ERR_ARG = 2,         /* bad argument value (NULL, out of range) */
    PD_ERR_NOMEM = 3,       /* allocation failed or arena exhausted */
    PD_ERR_STATE = 4,       /* wrong call order: backward twice, freed tensor */
    PD_ERR_IO = 5,          /* file could not be opened, read or written */
    PD_ERR_FORMAT = 6,      /* file content malformed or truncated */
    PD_ERR_CONFIG = 7,      /* bad configuration key or value */
    PD_ERR_PLUGIN = 8,      /* plugin refused by the loader */
    PD_ERR_NUMERIC = 9,     /* NaN or inf where a finite value is needed */
    PD_ERR_INTERRUPTED = 10 /* stopped by a signal */
} pd_status;

/* Short name of a status ("shape", "io", ...). */
const char *pd_status_name(pd_status s);

/* The message of the last error set on this thread ("" if none). */
const char *pd_last_error(void);

/* Sets the message (printf format) and returns s, so that code can write
 * `return pd_fail(PD_ERR_ARG, "linear: w is NULL");`. */
pd_status pd_fail(pd_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Clears the message. */
void pd_clear_error(void);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
