/* The packed data set file (internal; docs/data.md documents it for users).
 *
 * Little-endian throughout:
 *   0  char magic[8]       "PDPACK\r\n" (the CR LF catches text-mode mangling)
 *   8  u32  version        PD_PACK_VERSION
 *  12  u32  header_bytes   64 + the class table below
 *  16  u32  channels       C, 1 or 3
 *  20  u32  size           S
 *  24  u64  count          N images
 *  32  u32  num_classes    K
 *  36  u32  header_crc     CRC-32 of bytes [0, header_bytes) with this field 0
 *  40  u64  pixels_offset  header_bytes rounded up to PD_PACK_ALIGN
 *  48  u32  payload_crc    CRC-32 of the pixels then the labels
 *  52  u32  reserved       0
 *  56  u64  labels_offset  pixels_offset + N*C*S*S
 *  64  K times { u16 len (1..PACK_MAX_NAME); len bytes, no NUL }: class names
 *  pixels_offset: u8 (N, C, S, S); labels_offset: u32 (N), each < K;
 *  the file ends there. */
#ifndef PD_DATA_PACK_FORMAT_H
#define PD_DATA_PACK_FORMAT_H

#include <stdint.h>

#define PACK_MAGIC "PDPACK\r\n"
#define PACK_FIXED_BYTES 64
#define PACK_MAX_NAME 255

static inline void pack_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void pack_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t pack_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t pack_get64(const uint8_t *p) {
    return (uint64_t)pack_get32(p) | (uint64_t)pack_get32(p + 4) << 32;
}
static inline uint64_t pack_align(uint64_t v) {
    return (v + PD_PACK_ALIGN - 1) / PD_PACK_ALIGN * PD_PACK_ALIGN;
}

#endif
