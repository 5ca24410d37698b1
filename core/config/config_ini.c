/* INI layers through inih.
 *
 * Debian's libinih is built without INI_HANDLER_LINENO, so the handler is
 * not told the line. We feed inih through our own line reader, which counts
 * lines (the handler runs before the next line is read) and also checks
 * section headers and syntax itself, so every error names its line - even
 * an empty unknown section, which never reaches the handler. The reader
 * drops leading blanks, which turns off inih's multi-line continuation:
 * an indented line is an ordinary line, not part of the previous value.
 *
 * A file may start from another: "[config] base = other.ini" (relative to
 * the including file). The base chain is loaded first, each file as its own
 * layer, so the including file's keys win; the result is one resolved
 * config, and pd_config_to_ini() never writes [config] back, so what a
 * checkpoint stores reads no other file. Text (pd_config_load_string, which
 * loads checkpoints) may not name a base.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "io/file_open.h"

/* A config is a few KiB; a file past this is not one (or is /dev/zero's
 * kin behind a regular name). Reading stops here. */
#define PD_CONFIG_FILE_MAX (1 << 20)

typedef struct ini_state {
    const char *name; /* file name for messages */
    FILE *fp;         /* exactly one of fp / text */
    const char *text;
    int line;         /* lines handed to inih so far */
    long bytes;       /* bytes read so far (PD_CONFIG_FILE_MAX) */
    bool stop;        /* a fatal read error: hand inih no more lines */
    bool seen_section; /* a valid [section] header was read */
    int section;      /* section of the last header seen, -1: none/unknown */
    bool bad_section; /* the last header was rejected: skip its keys */
    bool in_config;   /* inside [config] (file-level keys: base) */
    bool allow_base;  /* files only */
    char base[PD_CONFIG_VALUE_MAX]; /* [config] base, "" = none */
    int base_line;
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
    if (st->stop) return EOF;
    if (++st->bytes > PD_CONFIG_FILE_MAX) {
        FAIL(st, "%s:%d: file longer than %d bytes (not a config file?)", st->name, st->line,
             PD_CONFIG_FILE_MAX);
        st->stop = true;
        return EOF;
    }
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
        st->in_config = strcmp(s + 1, "config") == 0;
        if (st->in_config) {
            st->seen_section = true;
            st->section = -1, st->bad_section = false;
            return;
        }
        st->section = pd_cfg_section_index(s + 1);
        st->bad_section = st->section < 0;
        st->seen_section |= !st->bad_section;
        if (st->bad_section) {
            char list[256], hint[96] = "";
            const char *names[17];
            for (int i = 0; i < pd_cfg_n_sections; i++) names[i] = pd_cfg_sections[i].name;
            names[pd_cfg_n_sections] = "config"; /* files only: base */
            const char *near = pd_config_suggest(s + 1, names, pd_cfg_n_sections + 1);
            if (near) snprintf(hint, sizeof hint, "; did you mean [%s]?", near);
            pd_cfg_section_list(list, sizeof list);
            FAIL(st, "%s:%d: unknown section [%s] (sections: %s, config%s)", st->name, st->line,
                 s + 1, list, hint);
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
            st->stop = true; /* nothing after a NUL is worth reading */
            break;
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
    if (st->in_config) {
        if (strcmp(name, "base") != 0)
            FAIL(st, "%s:%d: [config] unknown key '%s' (keys: base)", st->name, st->line, name);
        else if (!st->allow_base)
            FAIL(st, "%s:%d: [config] base = %s: only a config file may name a base file",
                 st->name, st->line, value);
        else if (st->base_line)
            FAIL(st, "%s:%d: [config] base is set twice (lines %d and %d)", st->name, st->line,
                 st->base_line, st->line);
        else if (value[0] == '\0' || strlen(value) >= sizeof st->base)
            FAIL(st, "%s:%d: [config] base = %s: expected a file name", st->name, st->line, value);
        else
            snprintf(st->base, sizeof st->base, "%s", value), st->base_line = st->line;
        return 1;
    }
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

/* Reads the whole text into st->items (and st->base); applies nothing. */
static pd_status parse(ini_state *st) {
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
    return s;
}

pd_status pd_config_load_string(pd_config *cfg, const char *text, const char *name) {
    if (!cfg || !text) return pd_fail(PD_ERR_ARG, "pd_config_load_string: NULL argument");
    ini_state st = {.name = name ? name : "(string)", .text = text, .section = -1};
    pd_status s = parse(&st);
    if (s == PD_OK) s = pd_cfg_apply_items(cfg, &st.items, st.name);
    pd_cfg_items_free(&st.items);
    return s;
}

/* The files of a base chain, outermost first, for cycle messages. */
typedef struct base_chain {
    int n;
    char path[PD_CFG_BASE_CHAIN_MAX][PD_CONFIG_VALUE_MAX];
    dev_t dev[PD_CFG_BASE_CHAIN_MAX];
    ino_t ino[PD_CFG_BASE_CHAIN_MAX];
} base_chain;

/* base relative to the folder of the file that names it. */
static bool resolve_base(const char *from, const char *base, char *out, size_t cap) {
    const char *slash = strrchr(from, '/');
    int n = base[0] == '/' || !slash ? snprintf(out, cap, "%s", base)
                                     : snprintf(out, cap, "%.*s/%s", (int)(slash - from), from, base);
    return n >= 0 && (size_t)n < cap;
}

static pd_status load_chain(pd_config *cfg, const char *path, base_chain *ch, const char *from,
                            int from_line) {
    /* regular files only, checked on the descriptor (O_NONBLOCK: a FIFO
     * does not block the open) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (from)
            return pd_fail(PD_ERR_CONFIG, "%s:%d: [config] base: cannot open %s: %s", from,
                           from_line, path, strerror(e));
        return pd_fail(PD_ERR_IO, "%s: cannot open config: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        if (from)
            return pd_fail(PD_ERR_CONFIG, "%s:%d: [config] base: %s is not a regular file "
                           "(found %s)", from, from_line, path, pd_file_kind(sb.st_mode));
        return pd_fail(PD_ERR_IO, "%s: config is not a regular file (found %s)", path,
                       pd_file_kind(sb.st_mode));
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return pd_fail(PD_ERR_NOMEM, "%s: cannot open config: out of memory", path);
    }
    for (int i = 0; i < ch->n; i++) {
        if (ch->dev[i] != sb.st_dev || ch->ino[i] != sb.st_ino) continue;
        char cycle[1024];
        size_t len = 0;
        for (int j = i; j < ch->n && len < sizeof cycle; j++)
            len += (size_t)snprintf(cycle + len, sizeof cycle - len, "%s -> ", ch->path[j]);
        fclose(fp);
        return pd_fail(PD_ERR_CONFIG, "%s:%d: [config] base: cycle %s%s", from, from_line, cycle,
                       path);
    }
    if (ch->n == PD_CFG_BASE_CHAIN_MAX) {
        fclose(fp);
        return pd_fail(PD_ERR_CONFIG, "%s:%d: [config] base: chain longer than %d files", from,
                       from_line, PD_CFG_BASE_CHAIN_MAX);
    }
    snprintf(ch->path[ch->n], sizeof ch->path[0], "%s", path);
    ch->dev[ch->n] = sb.st_dev, ch->ino[ch->n] = sb.st_ino;
    ch->n++;
    ini_state st = {.name = path, .fp = fp, .section = -1, .allow_base = true};
    pd_status s = parse(&st);
    fclose(fp);
    /* A base that is not an INI file at all (base = /etc/passwd) is refused
     * without quoting it: its lines are someone else's data. */
    if (s != PD_OK && from && !st.seen_section)
        s = pd_fail(PD_ERR_CONFIG, "%s:%d: [config] base: %s is not a config file (line %d is "
                    "not INI before any [section]; its text is not shown)", from, from_line, path,
                    st.err_line ? st.err_line : 1);
    if (s == PD_OK && st.base[0]) {
        char base_path[PD_CONFIG_VALUE_MAX];
        if (!resolve_base(path, st.base, base_path, sizeof base_path))
            s = pd_fail(PD_ERR_CONFIG, "%s:%d: [config] base = %s: path too long", path,
                        st.base_line, st.base);
        else
            s = load_chain(cfg, base_path, ch, path, st.base_line);
    }
    if (s == PD_OK) s = pd_cfg_apply_items(cfg, &st.items, path);
    pd_cfg_items_free(&st.items);
    ch->n--;
    return s;
}

pd_status pd_config_load_file(pd_config *cfg, const char *path) {
    if (!cfg || !path) return pd_fail(PD_ERR_ARG, "pd_config_load_file: NULL argument");
    if (strlen(path) >= PD_CONFIG_VALUE_MAX)
        return pd_fail(PD_ERR_CONFIG, "%s: config path longer than %d characters", path,
                       PD_CONFIG_VALUE_MAX - 1);
    /* The whole chain or nothing: work on a copy. */
    pd_config *tmp = malloc(sizeof *tmp);
    base_chain *ch = calloc(1, sizeof *ch);
    pd_status s = tmp && ch ? PD_OK : pd_fail(PD_ERR_NOMEM, "config: out of memory");
    if (s == PD_OK) {
        *tmp = *cfg;
        s = load_chain(tmp, path, ch, NULL, 0);
        if (s == PD_OK) *cfg = *tmp;
    }
    free(tmp);
    free(ch);
    return s;
}
