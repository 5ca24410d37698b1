/* pixeldit/safetensors.h - reading and writing .safetensors files.
 *
 * Format: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON
 *   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
 *    ..., "__metadata__": {"key": "value", ...}}
 * then the byte buffer; offsets are relative to the start of that buffer and
 * values are little-endian, row-major.
 *
 * The reader loads the whole file and validates all of it before returning:
 * header size against the file size, the JSON, each entry's dtype, shape and
 * offsets (inside the buffer, no overlap, size == numel * itemsize) and the
 * metadata (string -> string). Any problem is a PD_ERR_FORMAT (content) or
 * PD_ERR_IO (filesystem) status with a one-line message naming the file and,
 * where it applies, the tensor.
 *
 * The writer keeps pointers to the caller's data (nothing is copied) until
 * pd_st_writer_write(), which replaces the target atomically: it writes
 * "<path>.tmp.<pid>", fsyncs, and renames over path; on any error the
 * temporary file is removed and an existing file at path is left untouched.
 */
#ifndef PIXELDIT_SAFETENSORS_H
#define PIXELDIT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "pixeldit/status.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

#define PD_ST_MAX_DIMS 8

typedef enum pd_st_dtype {
    PD_ST_F64,
    PD_ST_F32,
    PD_ST_F16,
    PD_ST_BF16,
    PD_ST_I64,
    PD_ST_I32,
    PD_ST_I16,
    PD_ST_I8,
    PD_ST_U8,
    PD_ST_BOOL,
    PD_ST_DTYPE_COUNT
} pd_st_dtype;

/* "F32", "I64", ...; and bytes per element. */
const char *pd_st_dtype_name(pd_st_dtype dt);
size_t pd_st_dtype_size(pd_st_dtype dt);

/* One tensor of an open file. data points into the file's buffer (64-byte
 * aligned, valid until pd_st_close) and holds nbytes little-endian bytes. */
typedef struct pd_st_tensor {
    const char *name;
    pd_st_dtype dtype;
    int ndim;                    /* 0 = scalar */
    int shape[PD_ST_MAX_DIMS];
    size_t numel;
    const void *data;
    size_t nbytes;
} pd_st_tensor;

/* ---- reading ------------------------------------------------------------- */

typedef struct pd_st_file pd_st_file;

/* Opens and validates path; *out is NULL on failure. */
pd_status pd_st_open(const char *path, pd_st_file **out);
/* Reads and validates only the header (tensor names, shapes, offsets and
 * metadata): memory and time do not grow with the tensor data. Tensors
 * cannot be read from such a handle (pd_st_read_f32 fails; data is NULL). */
pd_status pd_st_open_header(const char *path, pd_st_file **out);
void pd_st_close(pd_st_file *f);

const char *pd_st_path(const pd_st_file *f);
/* Tensors in header order. */
int pd_st_count(const pd_st_file *f);
const pd_st_tensor *pd_st_at(const pd_st_file *f, int i);
/* By name, or NULL (no error set). */
const pd_st_tensor *pd_st_find(const pd_st_file *f, const char *name);

/* "__metadata__" entries in header order; value by key or NULL. */
int pd_st_metadata_count(const pd_st_file *f);
void pd_st_metadata_at(const pd_st_file *f, int i, const char **key, const char **value);
const char *pd_st_metadata(const pd_st_file *f, const char *key);

/* Copies tensor `name` into dst as float32 (F32 as is, F64 and BF16
 * converted) after checking that its shape is expect_shape[0..ndim).
 * Errors: no such tensor (PD_ERR_FORMAT), other shape (PD_ERR_SHAPE, both
 * shapes named), dtype not convertible (PD_ERR_FORMAT). */
pd_status pd_st_read_f32(const pd_st_file *f, const char *name, float *dst,
                         const int *expect_shape, int ndim);

/* Writes "(2, 3) F32" for messages; returns buf. */
char *pd_st_describe(const pd_st_tensor *t, char *buf, size_t size);

/* ---- writing ------------------------------------------------------------- */

typedef struct pd_st_writer pd_st_writer;

pd_st_writer *pd_st_writer_new(void);
void pd_st_writer_free(pd_st_writer *w);

/* Queues a tensor: name is copied, data (numel * itemsize bytes, host byte
 * order = little-endian) is only referenced and must stay valid until the
 * write. Refuses duplicate names, "__metadata__", empty names and bad
 * shapes. Tensors are written in the order added. */
pd_status pd_st_writer_add(pd_st_writer *w, const char *name, pd_st_dtype dtype,
                           const int *shape, int ndim, const void *data);
/* Sets a metadata entry (copied); setting a key again replaces its value. */
pd_status pd_st_writer_set_metadata(pd_st_writer *w, const char *key, const char *value);
/* Writes everything to path atomically (see the top of this file). */
pd_status pd_st_writer_write(const pd_st_writer *w, const char *path);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
