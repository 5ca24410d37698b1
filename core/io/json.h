/* Minimal JSON reader for safetensors headers (internal).
 *
 * Only what those headers contain: objects, arrays, strings (all escapes,
 * \u with surrogate pairs, UTF-8 checked) and integers. Floats, true, false
 * and null are refused with a message, so a header using them is reported
 * rather than half-understood. Member order is kept as written.
 */
#ifndef PD_JSON_H
#define PD_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum pd_json_type {
    PD_JSON_OBJECT,
    PD_JSON_ARRAY,
    PD_JSON_STRING,
    PD_JSON_INT
} pd_json_type;

typedef struct pd_json {
    pd_json_type type;
    const char *key;       /* member name when inside an object, else NULL */
    const char *str;       /* PD_JSON_STRING: decoded, NUL-terminated */
    int64_t num;           /* PD_JSON_INT */
    int count;             /* members / elements of an object / array */
    struct pd_json *child; /* first member / element */
    struct pd_json *next;  /* next sibling */
    size_t offset;         /* byte offset of the value in the text */
} pd_json;

typedef struct pd_json_doc pd_json_doc;

/* Parses text[0..len) (not NUL-terminated; trailing whitespace allowed).
 * Returns NULL on failure with a one-line reason in err ("at byte 57:
 * expected ':' after object key"), or on allocation failure ("out of
 * memory"). */
pd_json_doc *pd_json_parse(const char *text, size_t len, char *err, size_t err_size);
void pd_json_free(pd_json_doc *doc);
const pd_json *pd_json_root(const pd_json_doc *doc);

/* Member of an object by key (first match), or NULL. */
const pd_json *pd_json_get(const pd_json *obj, const char *key);
/* Name of a type for messages ("object", "integer", ...). */
const char *pd_json_type_name(pd_json_type t);

#endif
