/* The checkpoint's plugin record: read, written and checked in one place
 * (see pixeldit/plugin_record.h). Plugins are named, never located. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/plugin_record.h"
#include "plugin/plugin_internal.h"

static pd_plugin_kind kind_from_word(const char *w, size_t n) {
    for (int k = PD_PLUGIN_DECODER; k <= PD_PLUGIN_ATTENTION; k++) {
        const char *name = pd_plugin_kind_name((pd_plugin_kind)k);
        if (strlen(name) == n && strncmp(w, name, n) == 0) return (pd_plugin_kind)k;
    }
    return 0;
}

static bool version_ok(const char *v) {
    if (!*v) return false;
    for (; *v; v++)
        if (*v <= ' ' || *v > '~' || *v == '/' || *v == ';' || *v == '@') return false;
    return true;
}

static pd_status bad_entry(const char *path, const char *entry, size_t n, const char *why) {
    return pd_fail(PD_ERR_FORMAT, "%s: plugin record '%.*s': %s", path, (int)(n > 200 ? 200 : n),
                   entry, why);
}

pd_status pd_plugin_record_parse(const char *text, const char *path, pd_plugin_record *out) {
    memset(out, 0, sizeof *out);
    if (!path) path = "checkpoint";
    for (const char *p = text ? text : ""; *p;) {
        size_t n = strcspn(p, ";");
        const char *eq = memchr(p, '=', n), *at = eq ? memchr(eq, '@', n - (size_t)(eq - p)) : NULL;
        if (!eq || !at)
            return bad_entry(path, p, n, "expected KIND=NAME@VERSION");
        pd_plugin_kind kind = kind_from_word(p, (size_t)(eq - p));
        if (!kind) return bad_entry(path, p, n, "expected the kind decoder, loss or attention");
        size_t name_len = (size_t)(at - eq - 1), ver_len = n - (size_t)(at - p) - 1;
        pd_plugin_record_entry *e = &out->e[out->n];
        if (out->n == PD_PLUGIN_RECORD_MAX)
            return bad_entry(path, p, n, "more plugins than a model has");
        if (memchr(eq + 1, '/', name_len))
            return bad_entry(path, p, n, "expected a plugin name [a-z0-9_]+, found a path (a "
                                         "checkpoint names plugins, never files)");
        if (name_len >= sizeof e->name || ver_len >= sizeof e->version)
            return bad_entry(path, p, n, "name or version too long");
        memcpy(e->name, eq + 1, name_len);
        e->name[name_len] = '\0';
        memcpy(e->version, at + 1, ver_len);
        e->version[ver_len] = '\0';
        if (!pd_plugin_name_ok(e->name, sizeof e->name))
            return bad_entry(path, p, n, "expected a plugin name [a-z0-9_]+ (a checkpoint names "
                                         "plugins, never files)");
        if (!version_ok(e->version))
            return bad_entry(path, p, n, "expected a version without blanks, '/', ';' or '@'");
        e->kind = kind;
        out->n++;
        p += n;
        if (*p == ';') p++;
    }
    return PD_OK;
}

static void add(pd_plugin_record *r, const pd_plugin *pl) {
    if (!pl || r->n == PD_PLUGIN_RECORD_MAX) return;
    pd_plugin_record_entry *e = &r->e[r->n++];
    e->kind = pd_plugin_get_kind(pl);
    snprintf(e->name, sizeof e->name, "%s", pd_plugin_name(pl));
    snprintf(e->version, sizeof e->version, "%s", pd_plugin_version(pl));
}

void pd_plugin_record_of(const pd_session *s, pd_plugin_record *out) {
    memset(out, 0, sizeof *out);
    add(out, s->decoder);
    add(out, s->attention);
    for (int i = 0; i < s->n_losses; i++) add(out, s->loss[i]);
}

size_t pd_plugin_record_format(const pd_plugin_record *r, char *buf, size_t cap) {
    size_t o = 0;
    if (cap) buf[0] = '\0';
    for (int i = 0; i < r->n; i++) {
        int w = snprintf(o < cap ? buf + o : NULL, o < cap ? cap - o : 0, "%s%s=%s@%s",
                         i ? ";" : "", pd_plugin_kind_name(r->e[i].kind), r->e[i].name,
                         r->e[i].version);
        if (w > 0) o += (size_t)w;
    }
    return o;
}

/* The session's plugin of this kind called `name`, or NULL. */
static const pd_plugin *session_plugin(const pd_session *s, pd_plugin_kind kind, const char *name) {
    const pd_plugin *c[PD_SESSION_MAX_LOSSES + 2] = {s->decoder, s->attention};
    int n = 2;
    for (int i = 0; i < s->n_losses; i++) c[n++] = s->loss[i];
    for (int i = 0; i < n; i++)
        if (c[i] && pd_plugin_get_kind(c[i]) == kind && strcmp(pd_plugin_name(c[i]), name) == 0)
            return c[i];
    return NULL;
}

/* Leading integer of a version ("1.2.0" -> 1), -1 when there is none. */
static long major_of(const char *v) {
    char *end;
    long m = strtol(v, &end, 10);
    return end == v ? -1 : m;
}

pd_status pd_plugin_record_check(const pd_plugin_record *rec, const pd_session *s, unsigned kinds,
                                 const char *path, char *note, size_t note_cap) {
    size_t o = 0;
    if (note && note_cap) note[0] = '\0';
    if (!path) path = "checkpoint";
    for (int i = 0; i < rec->n; i++) {
        const pd_plugin_record_entry *e = &rec->e[i];
        if (!(kinds & (1u << e->kind))) continue;
        const char *kind = pd_plugin_kind_name(e->kind);
        const pd_plugin *pl = session_plugin(s, e->kind, e->name);
        if (!pl)
            return pd_fail(PD_ERR_PLUGIN,
                           "%s: made with %s plugin %s %s, which this model does not use (put it on "
                           "PIXELDIT_PLUGIN_PATH or pass --plugin PATH)",
                           path, kind, e->name, e->version);
        const char *now = pd_plugin_version(pl);
        if (major_of(e->version) != major_of(now))
            return pd_fail(PD_ERR_PLUGIN,
                           "%s: made with %s plugin %s %s, found %s %s at %s (incompatible major "
                           "version)",
                           path, kind, e->name, e->version, e->name, now, pd_plugin_path(pl));
        if (strcmp(e->version, now) != 0 && note && o < note_cap)
            o += (size_t)snprintf(note + o, note_cap - o, "%s%s plugin %s was %s when saved, now %s",
                                  o ? "; " : "", kind, e->name, e->version, now);
    }
    return PD_OK;
}

pd_status pd_plugin_record_check_config(const pd_config *cfg, const char *path) {
    const pd_config_plugins *secs[3] = {&cfg->decoder, &cfg->loss, &cfg->attention};
    if (!path) path = "checkpoint";
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < secs[k]->n_plugins; i++) {
            const char *v = secs[k]->plugins[i];
            if (!pd_plugin_name_ok(v, PD_PLUGIN_NAME_MAX))
                return pd_fail(PD_ERR_FORMAT,
                               "%s: stored config [%s] plugin = %s: expected a plugin name "
                               "[a-z0-9_]+ (a checkpoint names plugins, never files; pass "
                               "--plugin PATH to use a file you trust)",
                               path, secs[k]->section, v);
        }
    return PD_OK;
}
