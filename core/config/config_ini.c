/* INI layers through inih.
 *
 * Debian's libinih is built without INI_HANDLER_LINENO, so the handler is
 * not told the line. We feed inih through our own line reader, which counts
 * lines (the handler runs before the next line is read) and also checks
 * section headers and syntax itself, so every error names its line - even
 * an empty unknown section, which never reaches the handler. The reader
 * drops leading blanks, which turns off inih's multi-line continuation:
 * an indented line is an ordinary line, not part of the previous value.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

typedef struct ini_state {
    const char *name; /* file name for messages */
    FILE *fp;         /* exactly one of fp / text */
    const char *text;
    int line;         /* lines handed to inih so far */
    int section;      /* section of the last header seen, -1: none/unknown */
    bool bad_section; /* the last header was rejected: skip its keys */
    pd_status err;    /* first error; its message is in pd_last_error() */
    int err_line;
    cfg_items items;
} ini_state;

static void fail_at(ini_state *st, pd_status s) {
    /* The message is already set; keep only the first (earliest) error. */
    if (st->err == PD_OK) st->err = s, st->err_line = st->line;
}

#define FAIL(st, ...)                                                      \
    do {                                                                   \
        if ((st)->err == PD_OK) fail_at((st), pd_fail(PD_ERR_CONFIG, __VA_ARGS__)); \
    } while (0)

static int next_char(ini_state *st) {
    if (st->fp) return getc(st->fp);
    if (*st->text == '\0') return EOF;
    return (unsigned char)*st->text++;
}

/* Checks a stripped line the way inih will read it: blank, comment,
 * "[section]" or "key = value" / "key: value". */
static void check_line(ini_state *st, char *s) {
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    if (st->line == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        s += 3; /* UTF-8 byte-order mark */
    if (s[0] == '\0' || s[0] == ';' || s[0] == '#') return;
    if (s[0] == '[') {
        char *end = strchr(s, ']');
        if (!end) {
            FAIL(st, "%s:%d: '%s': a section header needs a closing ']'", st->name, st->line, s);
            st->section = -1, st->bad_section = true;
            return;
        }
        *end = '\0';
        st->section = pd_cfg_section_index(s + 1);
        st->bad_section = st->section < 0;
        if (st->bad_section) {
            char list[256], hint[96] = "";
            const char *names[16];
            for (int i = 0; i < pd_cfg_n_sections; i++) names[i] = pd_cfg_sections[i].name;
            const char *near = pd_cfg_suggest(s + 1, names, pd_cfg_n_sections);
            if (near) snprintf(hint, sizeof hint, "; did you mean [%s]?", near);
            pd_cfg_section_list(list, sizeof list);
            FAIL(st, "%s:%d: unknown section [%s] (sections: %s%s)", st->name, st->line, s + 1,
                 list, hint);
        }
        return;
    }
    /* inih splits at the first '=' or ':' unless an inline comment (" ;")
     * comes first. */
    for (char *p = s; *p; p++) {
        if (*p == '=' || *p == ':') return;
        if (*p == ';' && p > s && isspace((unsigned char)p[-1])) break;
    }
    FAIL(st, "%s:%d: '%s': expected 'key = value', '[section]' or a comment", st->name, st->line,
         s);
}

/* fgets-style reader for ini_parse_stream: one whole line per call. */
static char *read_line(char *str, int num, void *stream) {
    ini_state *st = stream;
    int c = next_char(st);
    if (c == EOF) return NULL;
    st->line++;
    while (c == ' ' || c == '\t') c = next_char(st);
    int n = 0;
    bool too_long = false;
    while (c != EOF && c != '\n') {
        if (c == '\0') { /* C strings would silently end the line here */
            FAIL(st, "%s:%d: NUL byte in the line (not a text file?)", st->name, st->line);
            c = ' ';
        }
        if (n < num - 2)
            str[n++] = (char)c;
        else
            too_long = true;
        c = next_char(st);
    }
    str[n] = '\0';
    if (too_long)
        FAIL(st, "%s:%d: line longer than %d characters", st->name, st->line, num - 2);
    char copy[512];
    snprintf(copy, sizeof copy, "%s", str);
    check_line(st, copy);
    str[n] = '\n', str[n + 1] = '\0';
    return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
    ini_state *st = user;
    if (st->bad_section) return 1; /* already reported at its header */
    if (section[0] == '\0') {
        char list[256];
        pd_cfg_section_list(list, sizeof list);
        FAIL(st, "%s:%d: '%s' comes before any [section] (sections: %s)", st->name, st->line, name,
             list);
        return 1;
    }
    if (st->err != PD_OK) return 1;
    int sec = pd_cfg_section_index(section);
    if (sec < 0) return 1; /* cannot happen: the reader saw the header */
    pd_status s = pd_cfg_items_add(&st->items, sec, name, value, st->line, st->name);
    if (s != PD_OK) {
        fail_at(st, s);
        return 1;
    }
    /* A key twice in one file is almost always an editing mistake. */
    const cfg_item *now = &st->items.v[st->items.n - 1];
    for (int i = 0; i + 1 < st->items.n; i++) {
        const cfg_item *it = &st->items.v[i];
        if (it->section == sec && strcmp(it->key, now->key) == 0) {
            FAIL(st, "%s:%d: [%s] %s is set twice (lines %d and %d)", st->name, st->line, section,
                 name, it->line, st->line);
            break;
        }
    }
    return 1;
}

static pd_status load(pd_config *cfg, ini_state *st) {
    int rc = ini_parse_stream(read_line, st, on_key, st);
    pd_status s = st->err;
    if (s == PD_OK && rc > 0)
        s = pd_fail(PD_ERR_CONFIG, "%s:%d: cannot parse this line", st->name, rc);
    else if (s == PD_OK && rc == -2)
        s = pd_fail(PD_ERR_NOMEM, "%s: out of memory while parsing", st->name);
    else if (s == PD_OK && rc < 0)
        s = pd_fail(PD_ERR_IO, "%s: read error", st->name);
    if (s == PD_OK && st->fp && ferror(st->fp))
        s = pd_fail(PD_ERR_IO, "%s: read error: %s", st->name, strerror(errno));
    if (s == PD_OK) s = pd_cfg_apply_items(cfg, &st->items, st->name);
    pd_cfg_items_free(&st->items);
    return s;
}

pd_status pd_config_load_string(pd_config *cfg, const char *text, const char *name) {
    if (!cfg || !text) return pd_fail(PD_ERR_ARG, "pd_config_load_string: NULL argument");
    ini_state st = {.name = name ? name : "(string)", .text = text, .section = -1};
    return load(cfg, &st);
}

pd_status pd_config_load_file(pd_config *cfg, const char *path) {
    if (!cfg || !path) return pd_fail(PD_ERR_ARG, "pd_config_load_file: NULL argument");
    FILE *fp = fopen(path, "rb");
    if (!fp) return pd_fail(PD_ERR_IO, "%s: cannot open config: %s", path, strerror(errno));
    ini_state st = {.name = path, .fp = fp, .section = -1};
    pd_status s = load(cfg, &st);
    fclose(fp);
    return s;
}
