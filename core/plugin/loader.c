/* The plugin loader: search path, dlopen, entry call, checks, registry.
 * Loaded plugins stay resident until pd_plugins_unload_all() (GStreamer's
 * rule: code that may still be referenced is never unmapped mid-run). */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/plugin_paths.h"
#include "plugin_internal.h"
#include "io/file_open.h"

#define MAX_SEARCH_DIRS 32

static pd_plugin **g_loaded;
static int g_n_loaded, g_cap_loaded;

/* ---- search path ---------------------------------------------------------- */

static char g_env_copy[8192];
static char g_install_dir[PATH_MAX];
static const char *g_dirs[MAX_SEARCH_DIRS];

/* The folder libpixeldit was loaded from (realpath), via dladdr; "" if unknown. */
static void library_dir(char *out, size_t cap) {
    Dl_info info;
    char real[PATH_MAX];
    out[0] = '\0';
    if (!dladdr((const void *)&pd_plugin_search_dirs, &info) || !info.dli_fname) return;
    if (!realpath(info.dli_fname, real)) return;
    char *slash = strrchr(real, '/');
    if (slash) *slash = '\0';
    snprintf(out, cap, "%s", real);
}

/* True when `dir` is `root` or below it. */
static bool under(const char *dir, const char *root) {
    size_t n = strlen(root);
    return strncmp(dir, root, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/* $PIXELDIT_PLUGIN_PATH, then BUILD/plugins when this libpixeldit is the
 * one in the build tree, else the install folder LIBDIR/pixeldit/plugins
 * next to the libpixeldit actually loaded (so a staged or moved install
 * finds its own plugins, and an installed pixeldit never searches the
 * build tree). */
int pd_plugin_search_dirs(const char **dirs, int max) {
    int n = 0;
    const char *env = getenv("PIXELDIT_PLUGIN_PATH");
    snprintf(g_env_copy, sizeof g_env_copy, "%s", env ? env : "");
    for (char *save = NULL, *d = strtok_r(g_env_copy, ":", &save); d && n < MAX_SEARCH_DIRS - 1;
         d = strtok_r(NULL, ":", &save))
        g_dirs[n++] = d;
    char lib[PATH_MAX], build_root[PATH_MAX];
    library_dir(lib, sizeof lib);
    if (!realpath(PD_PLUGIN_BUILD_ROOT, build_root)) build_root[0] = '\0';
    if (lib[0] && build_root[0] && under(lib, build_root)) {
        g_dirs[n++] = PD_PLUGIN_BUILD_DIR;
    } else {
        if (lib[0]) snprintf(g_install_dir, sizeof g_install_dir, "%s/pixeldit/plugins", lib);
        else snprintf(g_install_dir, sizeof g_install_dir, "%s", PD_PLUGIN_INSTALL_DIR);
        g_dirs[n++] = g_install_dir;
    }
    for (int i = 0; i < n && i < max; i++) dirs[i] = g_dirs[i];
    return n < max ? n : max;
}

/* Only a slash makes a path: "foo.so" is a (bad) plugin name, never a
 * file in the working directory. */
static bool is_path(const char *s) { return strchr(s, '/') != NULL; }

/* Finds NAME.so (or NAME/NAME.so) in the search dirs; writes the tried
 * paths into `tried` for the not-found message. */
static bool search(const char *name, char *found, size_t cap, char *tried, size_t tried_cap) {
    const char *dirs[MAX_SEARCH_DIRS];
    int n = pd_plugin_search_dirs(dirs, MAX_SEARCH_DIRS);
    size_t used = 0;
    tried[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *fmt[2] = {"%s/%s.so", "%s/%s/%s.so"};
        for (int f = 0; f < 2; f++) {
            if (f == 0) snprintf(found, cap, fmt[0], dirs[i], name);
            else snprintf(found, cap, fmt[1], dirs[i], name, name);
            if (access(found, R_OK) == 0) return true;
            if (used < tried_cap)
                used += (size_t)snprintf(tried + used, tried_cap - used, "%s%s", used ? ", " : "",
                                         found);
        }
    }
    return false;
}

/* ---- registry ---------------------------------------------------------------- */

pd_plugin *pd_plugin_find(const char *name) {
    for (int i = 0; name && i < g_n_loaded; i++)
        if (strcmp(g_loaded[i]->desc.name, name) == 0) return g_loaded[i];
    return NULL;
}

static pd_plugin *find_path(const char *real) {
    for (int i = 0; i < g_n_loaded; i++)
        if (strcmp(g_loaded[i]->path, real) == 0) return g_loaded[i];
    return NULL;
}

static bool registry_add(pd_plugin *pl) {
    if (g_n_loaded == g_cap_loaded) {
        int cap = g_cap_loaded ? 2 * g_cap_loaded : 16;
        pd_plugin **grown = realloc(g_loaded, (size_t)cap * sizeof *grown);
        if (!grown) return false;
        g_loaded = grown, g_cap_loaded = cap;
    }
    g_loaded[g_n_loaded++] = pl;
    return true;
}

void pd_plugins_unload_all(void) {
    for (int i = g_n_loaded - 1; i >= 0; i--) {
        if (g_loaded[i]->handle) dlclose(g_loaded[i]->handle);
        free(g_loaded[i]->path);
        free(g_loaded[i]);
    }
    free(g_loaded);
    g_loaded = NULL;
    g_n_loaded = g_cap_loaded = 0;
}

/* ---- loading one file ------------------------------------------------------------ */

static pd_status kind_matches(const pd_plugin *pl, pd_plugin_kind expected) {
    if (!expected || pl->desc.kind == expected) return PD_OK;
    return pd_fail(PD_ERR_PLUGIN, "%s: kind: expected %s, found %s (plugin '%s')", pl->path,
                   pd_plugin_kind_name(expected), pd_plugin_kind_name(pl->desc.kind),
                   pl->desc.name);
}

/* ---- the file before dlopen --------------------------------------------------------- */

#if defined(__x86_64__)
#define HOST_EM EM_X86_64
#elif defined(__aarch64__)
#define HOST_EM EM_AARCH64
#else
#define HOST_EM EM_NONE /* machine not checked */
#endif

/* dlopen runs a library's constructors and maps it: a junk or truncated
 * file crashes the process (SIGSEGV, SIGBUS past the end). So the file is
 * checked first: a 64-bit ELF shared object of this machine whose header
 * tables and loadable segments lie inside the file. */
static pd_status check_elf(const char *real) {
    FILE *f = pd_fopen_regular(real, NULL, PD_ERR_PLUGIN);
    if (!f) return PD_ERR_PLUGIN;
    Elf64_Ehdr eh;
    struct stat st;
    pd_status s = PD_OK;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        s = pd_fail(PD_ERR_PLUGIN, "%s: expected a regular file", real);
    else if (fread(&eh, sizeof eh, 1, f) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        s = pd_fail(PD_ERR_PLUGIN, "%s: expected an ELF shared object, found %s", real,
                    st.st_size < (off_t)sizeof eh ? "a file too short for an ELF header"
                                                  : "no ELF header");
    else if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_DYN ||
             (HOST_EM != EM_NONE && eh.e_machine != HOST_EM))
        s = pd_fail(PD_ERR_PLUGIN, "%s: expected a 64-bit ELF shared object for this machine, "
                    "found class %d, type %d, machine %d", real, eh.e_ident[EI_CLASS],
                    (int)eh.e_type, (int)eh.e_machine);
    uint64_t size = (uint64_t)st.st_size;
    if (!s && (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > size ||
               (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff ||
               (eh.e_shoff && (eh.e_shoff > size ||
                               (uint64_t)eh.e_shnum * eh.e_shentsize > size - eh.e_shoff))))
        s = pd_fail(PD_ERR_PLUGIN, "%s: ELF header tables lie past the end of the %llu-byte file "
                    "(truncated?)", real, (unsigned long long)size);
    for (int i = 0; !s && i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (fseeko(f, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph), SEEK_SET) != 0 ||
            fread(&ph, sizeof ph, 1, f) != 1)
            s = pd_fail(PD_ERR_PLUGIN, "%s: cannot read ELF program header %d", real, i);
        else if (ph.p_type == PT_LOAD && (ph.p_offset > size || ph.p_filesz > size - ph.p_offset))
            s = pd_fail(PD_ERR_PLUGIN, "%s: ELF segment %d ends at byte %llu, past the end of the "
                        "%llu-byte file (truncated?)", real, i,
                        (unsigned long long)(ph.p_offset + ph.p_filesz), (unsigned long long)size);
    }
    fclose(f);
    return s;
}

/* dlopens `real` (an absolute path), calls the entry and checks the result.
 * want_name (or NULL) is the name a bare-name lookup asked for. */
static pd_status load_file(const char *real, const char *want_name, pd_plugin_kind expected,
                           pd_plugin **out) {
    pd_status bad = check_elf(real);
    if (bad) return bad;
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        return pd_fail(PD_ERR_PLUGIN, "%s: cannot load: %s", real, e ? e : "dlopen failed");
    }
    pd_plugin_entry_fn entry;
    void *sym = dlsym(h, PD_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry); /* object -> function pointer, as POSIX allows */
    if (!sym) {
        dlclose(h);
        return pd_fail(PD_ERR_PLUGIN,
                       "%s: entry symbol: expected %s, found none (not a pixeldit plugin?)", real,
                       PD_PLUGIN_ENTRY_SYMBOL);
    }
    const pd_plugin_desc *d = entry();
    if (!d) {
        dlclose(h);
        return pd_fail(PD_ERR_PLUGIN, "%s: %s(): expected a descriptor, found NULL", real,
                       PD_PLUGIN_ENTRY_SYMBOL);
    }
    pd_plugin *pl = calloc(1, sizeof *pl);
    pd_status s = pl ? pd_plugin_check_desc(real, d, expected, pl)
                     : pd_fail(PD_ERR_NOMEM, "%s: out of memory", real);
    if (!s && want_name && strcmp(pl->desc.name, want_name) != 0)
        s = pd_fail(PD_ERR_PLUGIN, "%s: name: expected '%s' (the file name), found '%s'", real,
                    want_name, pl->desc.name);
    if (!s) {
        const pd_plugin *other = pd_plugin_find(pl->desc.name);
        if (other)
            s = pd_fail(PD_ERR_PLUGIN,
                        "%s: name '%s': expected a unique name, found it already loaded from %s",
                        real, pl->desc.name, other->path);
    }
    if (!s && !(pl->path = strdup(real))) s = pd_fail(PD_ERR_NOMEM, "%s: out of memory", real);
    if (!s && !registry_add(pl)) s = pd_fail(PD_ERR_NOMEM, "%s: out of memory", real);
    if (s) {
        if (pl) free(pl->path);
        free(pl);
        dlclose(h); /* nothing of it is kept: the message was formatted already */
        return s;
    }
    pl->handle = h;
    *out = pl;
    return PD_OK;
}

pd_status pd_plugin_load(const char *name_or_path, pd_plugin_kind expected_kind, pd_plugin **out) {
    if (!out) return pd_fail(PD_ERR_ARG, "plugin_load: out is NULL");
    *out = NULL;
    if (!name_or_path || !*name_or_path)
        return pd_fail(PD_ERR_ARG, "plugin_load: expected a plugin name or path, found %s",
                       name_or_path ? "\"\"" : "NULL");
    if ((int)expected_kind < 0 || expected_kind > PD_PLUGIN_ATTENTION)
        return pd_fail(PD_ERR_ARG, "plugin_load: expected_kind %d is not a plugin kind",
                       (int)expected_kind);

    char file[PATH_MAX + 64], real[PATH_MAX];
    const char *want_name = NULL;
    if (is_path(name_or_path)) {
        snprintf(file, sizeof file, "%s", name_or_path);
    } else {
        if (!pd_plugin_name_ok(name_or_path, PD_PLUGIN_NAME_MAX))
            return pd_fail(PD_ERR_PLUGIN,
                           "plugin '%s': expected a plugin name [a-z0-9_]+ or a path with a '/' "
                           "(e.g. ./%s)",
                           name_or_path, name_or_path);
        pd_plugin *known = pd_plugin_find(name_or_path);
        if (known) {
            pd_status s = kind_matches(known, expected_kind);
            if (!s) *out = known;
            return s;
        }
        char tried[4096];
        if (!search(name_or_path, file, sizeof file, tried, sizeof tried))
            return pd_fail(PD_ERR_PLUGIN, "plugin '%s' not found (tried %s)", name_or_path, tried);
        want_name = name_or_path;
    }
    if (!realpath(file, real))
        return pd_fail(PD_ERR_PLUGIN, "%s: cannot open: no such readable file", file);
    pd_plugin *known = find_path(real);
    if (known) { /* the same file again: the plugin already loaded */
        pd_status s = kind_matches(known, expected_kind);
        if (!s) *out = known;
        return s;
    }
    return load_file(real, want_name, expected_kind, out);
}
