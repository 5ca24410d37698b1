/* Recursive-descent JSON reader for safetensors headers (see json.h). */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32   /* headers nest 3 deep; the cap stops stack abuse */
#define JSON_CHUNK 256      /* nodes per allocation block */

_Static_assert(sizeof(pd_json) <= 40 || sizeof(void *) != 8, "pd_json grew: update the bound in json.h");

typedef struct node_chunk {
    struct node_chunk *prev;
    int used;
    pd_json nodes[JSON_CHUNK];
} node_chunk;

struct pd_json_doc {
    pd_json *root;
    node_chunk *chunks;
    char *strings; /* every decoded string, NUL-separated */
    size_t strings_used;
};

typedef struct {
    const char *s;
    size_t len, pos;
    int depth;
    pd_json_doc *doc;
    char *err;
    size_t err_size;
    bool failed;
    bool full;   /* reals, true, false, null allowed */
} parser;

static bool fail(parser *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static bool fail(parser *p, const char *fmt, ...) {
    if (p->failed) return false;
    p->failed = true;
    int n = snprintf(p->err, p->err_size, "at byte %zu: ", p->pos);
    if (n >= 0 && (size_t)n < p->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static pd_json *new_node(parser *p, pd_json_type type) {
    node_chunk *c = p->doc->chunks;
    if (!c || c->used == JSON_CHUNK) {
        c = calloc(1, sizeof *c);
        if (!c) {
            fail(p, "out of memory");
            return NULL;
        }
        c->prev = p->doc->chunks;
        p->doc->chunks = c;
    }
    pd_json *n = &c->nodes[c->used++];
    n->type = type;
    return n;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int peek(parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

/* Length of the valid UTF-8 sequence at s[0..avail), or 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static int utf8_seq_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if ((size_t)n > avail || s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

static char *put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

static bool hex4(parser *p, uint32_t *out) {
    if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + i];
        int d = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return fail(p, "bad hex digit '%c' in \\u escape", c);
        v = v * 16 + (uint32_t)d;
    }
    p->pos += 4;
    *out = v;
    return true;
}

/* \uXXXX after the "\u" has been consumed, with surrogate pairs. */
static bool unicode_escape(parser *p, uint32_t *cp) {
    uint32_t hi;
    if (!hex4(p, &hi)) return false;
    if (hi >= 0xDC00 && hi <= 0xDFFF) return fail(p, "lone low surrogate \\u%04X", (unsigned)hi);
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = hi;
        return true;
    }
    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return fail(p, "high surrogate \\u%04X without its low half", (unsigned)hi);
    p->pos += 2;
    uint32_t lo;
    if (!hex4(p, &lo)) return false;
    if (lo < 0xDC00 || lo > 0xDFFF)
        return fail(p, "high surrogate \\u%04X followed by \\u%04X", (unsigned)hi, (unsigned)lo);
    *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    return true;
}

/* Decodes the string at p->pos (on the opening quote) into the doc's
 * string area; every decoded string plus its NUL is no longer than its
 * quoted source, so the area sized to the text never overflows. */
static const char *parse_string(parser *p) {
    p->pos++; /* opening quote */
    char *start = p->doc->strings + p->doc->strings_used, *o = start;
    for (;;) {
        if (p->pos >= p->len) {
            fail(p, "unterminated string");
            return NULL;
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            fail(p, "control character 0x%02X inside a string", c);
            return NULL;
        }
        if (c >= 0x80) {
            int n = utf8_seq_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (!n) {
                fail(p, "invalid UTF-8 byte 0x%02X in a string", c);
                return NULL;
            }
            memcpy(o, p->s + p->pos, (size_t)n);
            o += n;
            p->pos += (size_t)n;
            continue;
        }
        p->pos++;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (p->pos >= p->len) {
            fail(p, "unterminated string");
            return NULL;
        }
        char e = p->s[p->pos++];
        uint32_t cp = 0;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (!unicode_escape(p, &cp)) return NULL;
            if (cp == 0) { /* names are C strings: an embedded NUL would cut them */
                fail(p, "\\u0000 inside a string is not supported");
                return NULL;
            }
            o = put_utf8(o, cp);
            break;
        default:
            p->pos--;
            fail(p, "bad escape '\\%c'", e);
            return NULL;
        }
    }
    *o++ = '\0';
    p->doc->strings_used += (size_t)(o - start);
    return start;
}

static bool parse_int(parser *p, int64_t *out) {
    bool neg = false;
    if (peek(p) == '-') {
        neg = true;
        p->pos++;
    }
    int c = peek(p);
    if (c < '0' || c > '9') return fail(p, "expected a digit");
    if (c == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        return fail(p, "leading zero in a number");
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while ((c = peek(p)) >= '0' && c <= '9') {
        uint64_t d = (uint64_t)(c - '0');
        if (v > (limit - d) / 10) return fail(p, "integer does not fit in 64 bits");
        v = v * 10 + d;
        p->pos++;
    }
    if (c == '.' || c == 'e' || c == 'E')
        return fail(p, "number is not an integer (safetensors headers use integers only)");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* A number in full mode: JSON's grammar checked, then strtod on a copy
 * (the text is not NUL-terminated). Integers that fit stay PD_JSON_INT. */
static pd_json *parse_number_full(parser *p) {
    size_t start = p->pos, i = p->pos;
    bool real = false;
    if (i < p->len && p->s[i] == '-') i++;
    size_t digits = i;
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    if (i == digits) {
        fail(p, "expected a digit");
        return NULL;
    }
    if (i < p->len && p->s[i] == '.') {
        real = true;
        size_t f = ++i;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
        if (i == f) {
            fail(p, "expected a digit after '.'");
            return NULL;
        }
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        real = true;
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        size_t e = i;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
        if (i == e) {
            fail(p, "expected a digit in the exponent");
            return NULL;
        }
    }
    if (!real) {
        pd_json *n = new_node(p, PD_JSON_INT);
        if (n && parse_int(p, &n->num)) return n;
        if (!n) return NULL;
        p->failed = false; /* past 64 bits: read it as a real below */
        p->pos = start;
    }
    char buf[64];
    if (i - start >= sizeof buf) {
        fail(p, "number longer than %zu characters", sizeof buf - 1);
        return NULL;
    }
    memcpy(buf, p->s + start, i - start);
    buf[i - start] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v)) {
        fail(p, "number out of range");
        return NULL;
    }
    pd_json *n = new_node(p, PD_JSON_REAL);
    if (!n) return NULL;
    n->real = v;
    p->pos = i;
    return n;
}

/* true, false or null in full mode. */
static pd_json *parse_literal(parser *p) {
    static const char *const words[3] = {"true", "false", "null"};
    for (int w = 0; w < 3; w++) {
        size_t l = strlen(words[w]);
        if (p->len - p->pos >= l && memcmp(p->s + p->pos, words[w], l) == 0) {
            pd_json *n = new_node(p, w == 2 ? PD_JSON_NULL : PD_JSON_BOOL);
            if (!n) return NULL;
            if (w < 2) n->boolean = w == 0;
            p->pos += l;
            return n;
        }
    }
    fail(p, "unexpected character '%c'", p->s[p->pos]);
    return NULL;
}

static pd_json *parse_value(parser *p);

/* Object or array at p->pos (on '{' or '['). */
static pd_json *parse_container(parser *p, bool is_object) {
    pd_json *n = new_node(p, is_object ? PD_JSON_OBJECT : PD_JSON_ARRAY);
    if (!n) return NULL;
    if (++p->depth > JSON_MAX_DEPTH) {
        fail(p, "nesting deeper than %d", JSON_MAX_DEPTH);
        return NULL;
    }
    char close = is_object ? '}' : ']';
    p->pos++;
    skip_ws(p);
    pd_json **tail = &n->child;
    if (peek(p) == close) {
        p->pos++;
        p->depth--;
        return n;
    }
    for (;;) {
        skip_ws(p);
        const char *key = NULL;
        if (is_object) {
            if (peek(p) != '"') {
                fail(p, "expected a string key in object");
                return NULL;
            }
            if (!(key = parse_string(p))) return NULL;
            skip_ws(p);
            if (peek(p) != ':') {
                fail(p, "expected ':' after object key \"%s\"", key);
                return NULL;
            }
            p->pos++;
            skip_ws(p);
        }
        pd_json *v = parse_value(p);
        if (!v) return NULL;
        v->key = key;
        *tail = v;
        tail = &v->next;
        n->count++;
        skip_ws(p);
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == close) {
            p->pos++;
            break;
        }
        fail(p, "expected ',' or '%c' in %s", close, is_object ? "object" : "array");
        return NULL;
    }
    p->depth--;
    return n;
}

static pd_json *parse_value(parser *p) {
    skip_ws(p);
    int c = peek(p);
    if (c == '{' || c == '[') return parse_container(p, c == '{');
    if (c == '"') {
        pd_json *n = new_node(p, PD_JSON_STRING);
        if (n && !(n->str = parse_string(p))) return NULL;
        return n;
    }
    if (p->full && (c == '-' || (c >= '0' && c <= '9'))) return parse_number_full(p);
    if (p->full && (c == 't' || c == 'f' || c == 'n')) return parse_literal(p);
    if (c == '-' || (c >= '0' && c <= '9')) {
        pd_json *n = new_node(p, PD_JSON_INT);
        if (n && !parse_int(p, &n->num)) return NULL;
        return n;
    }
    if (c < 0) fail(p, "unexpected end of JSON");
    else if (c == 't' || c == 'f' || c == 'n')
        fail(p, "true/false/null are not used in safetensors headers");
    else
        fail(p, "unexpected character '%c'", c);
    return NULL;
}

static pd_json_doc *parse_doc(const char *text, size_t len, char *err, size_t err_size, bool full) {
    pd_json_doc *doc = calloc(1, sizeof *doc);
    if (doc) doc->strings = malloc(len + 1);
    if (!doc || !doc->strings) {
        snprintf(err, err_size, "out of memory for a %zu-byte JSON text", len);
        pd_json_free(doc);
        return NULL;
    }
    parser p = {.s = text, .len = len, .doc = doc, .err = err, .err_size = err_size, .full = full};
    doc->root = parse_value(&p);
    if (doc->root) {
        skip_ws(&p);
        if (p.pos != len) {
            doc->root = NULL;
            fail(&p, "unexpected data after the JSON value");
        }
    }
    if (!doc->root) {
        pd_json_free(doc);
        return NULL;
    }
    return doc;
}

pd_json_doc *pd_json_parse(const char *text, size_t len, char *err, size_t err_size) {
    return parse_doc(text, len, err, err_size, false);
}

pd_json_doc *pd_json_parse_full(const char *text, size_t len, char *err, size_t err_size) {
    return parse_doc(text, len, err, err_size, true);
}

bool pd_json_get_number(const pd_json *obj, const char *key, double *out) {
    const pd_json *m = pd_json_get(obj, key);
    if (m && m->type == PD_JSON_INT) *out = (double)m->num;
    else if (m && m->type == PD_JSON_REAL) *out = m->real;
    else return false;
    return true;
}

const char *pd_json_get_string(const pd_json *obj, const char *key) {
    const pd_json *m = pd_json_get(obj, key);
    return m && m->type == PD_JSON_STRING ? m->str : NULL;
}

void pd_json_free(pd_json_doc *doc) {
    if (!doc) return;
    for (node_chunk *c = doc->chunks, *prev; c; c = prev) {
        prev = c->prev;
        free(c);
    }
    free(doc->strings);
    free(doc);
}

const pd_json *pd_json_root(const pd_json_doc *doc) { return doc ? doc->root : NULL; }

const pd_json *pd_json_get(const pd_json *obj, const char *key) {
    if (!obj || obj->type != PD_JSON_OBJECT) return NULL;
    for (const pd_json *m = obj->child; m; m = m->next)
        if (strcmp(m->key, key) == 0) return m;
    return NULL;
}

const char *pd_json_type_name(pd_json_type t) {
    switch (t) {
    case PD_JSON_OBJECT: return "object";
    case PD_JSON_ARRAY: return "array";
    case PD_JSON_STRING: return "string";
    case PD_JSON_INT: return "integer";
    case PD_JSON_REAL: return "number";
    case PD_JSON_BOOL: return "boolean";
    case PD_JSON_NULL: return "null";
    }
    return "?";
}
