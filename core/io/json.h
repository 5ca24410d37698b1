/* Minimal JSON reader (internal).
 *
 * pd_json_parse reads safetensors headers: only what those contain,
 * objects, arrays, strings (all escapes, \u with surrogate pairs, UTF-8
 * checked) and integers. Floats, true, false and null are refused with a
 * message, so a header using them is reported rather than half-understood.
 * pd_json_parse_full also takes those (the run records under results/).
 * Member order is kept as written.
 */
#ifndef PD_JSON_H
#define PD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum pd_json_type {
    PD_JSON_OBJECT,
    PD_JSON_ARRAY,
    PD_JSON_STRING,
    PD_JSON_INT,
    PD_JSON_REAL,   /* pd_json_parse_full only */
    PD_JSON_BOOL,   /* pd_json_parse_full only */
    PD_JSON_NULL    /* pd_json_parse_full only */
} pd_json_type;

/* 40 bytes: a header of L bytes parses into at most L / 2 + 1 nodes (the
 * densest text is "[0,0,...]"), so the tree takes at most about 20 bytes
 * per header byte plus L for the strings (docs/security.md). */
typedef struct pd_json {
    const char *key;       /* member name when inside an object, else NULL */
    union {
        const char *str;   /* PD_JSON_STRING: decoded, NUL-terminated */
        int64_t num;       /* PD_JSON_INT */
        double real;       /* PD_JSON_REAL (finite) */
        bool boolean;      /* PD_JSON_BOOL */
    };                     /* read only the member that `type` names */
    struct pd_json *child; /* first member / element */
    struct pd_json *next;  /* next sibling */
    int count;             /* members / elements of an object / array */
    pd_json_type type;
} pd_json;

typedef struct pd_json_doc pd_json_doc;

/* Parses text[0..len) (not NUL-terminated; trailing whitespace allowed).
 * Returns NULL on failure with a one-line reason in err ("at byte 57:
 * expected ':' after object key"), or on allocation failure ("out of
 * memory"). */
pd_json_doc *pd_json_parse(const char *text, size_t len, char *err, size_t err_size);
/* The same, taking any JSON value: numbers with a fraction or exponent
 * (PD_JSON_REAL; integers past 64 bits too), true, false and null. */
pd_json_doc *pd_json_parse_full(const char *text, size_t len, char *err, size_t err_size);
void pd_json_free(pd_json_doc *doc);
/* A number member (integer or real) as double; false when missing or not
 * a number. */
bool pd_json_get_number(const pd_json *obj, const char *key, double *out);
/* A string member, or NULL. */
const char *pd_json_get_string(const pd_json *obj, const char *key);
const pd_json *pd_json_root(const pd_json_doc *doc);

/* Member of an object by key (first match), or NULL. */
const pd_json *pd_json_get(const pd_json *obj, const char *key);
/* Name of a type for messages ("object", "integer", ...). */
const char *pd_json_type_name(pd_json_type t);

#endif
