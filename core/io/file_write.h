/* The two system-call loops every atomic file writer needs (internal):
 * the checkpoint writer (safetensors_write.c) and the packed-data writer
 * (core/data/pack_write.c) share them. */
#ifndef PD_FILE_WRITE_H
#define PD_FILE_WRITE_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all n bytes, retrying short writes and EINTR. False with errno set
 * (EIO when write made no progress) on failure. */
bool pd_write_all(int fd, const void *p, size_t n);

/* fsyncs the folder holding path, so a rename into it is durable. Failure
 * loses nothing already written, so it is not reported. */
void pd_sync_parent_dir(const char *path);

#endif
