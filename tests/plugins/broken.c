/* Deliberately broken plugins for the loader tests. Without a BROKEN_*
 * define this is a valid loss plugin; each module is built with one
 * -DBROKEN_<defect> that breaks exactly one thing the host must check, and
 * -DPLUGIN_NAME="<name>". */
#include <stddef.h>

#include "pixeldit/plugin.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "broken"
#endif

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, void **state) {
    (void)host, (void)info, (void)cfg;
    *state = NULL;
    return PD_OK;
}

static pd_tensor *forward(void *state, pd_ctx *ctx, const pd_loss_inputs *in, pd_loss_parts *parts) {
    (void)state, (void)ctx, (void)in, (void)parts;
    return NULL; /* never run by the tests */
}

static void destroy(void *state) { (void)state; }

static pd_loss_vtable vtable = {sizeof(pd_loss_vtable), create, forward, destroy};

static pd_plugin_key keys[2] = {
    {"scale", PD_KEY_FLOAT, "1.0", "unused", "0.."},
    {"mode", PD_KEY_ENUM, "a", "unused", "a|b"},
};

static pd_plugin_desc desc = {
    PD_PLUGIN_DESC_HEADER, PD_PLUGIN_LOSS, PLUGIN_NAME, "0.0.1",
    "deliberately broken test plugin", keys, 2, &vtable,
};

/* Applies the one defect this module was built with. */
static const pd_plugin_desc *broken_desc(void) {
#if defined(BROKEN_NULL_ENTRY)
    return NULL;
#elif defined(BROKEN_ABI_MAJOR)
    desc.abi_major = PD_PLUGIN_ABI_MAJOR + 1;
#elif defined(BROKEN_ABI_MINOR)
    desc.abi_minor = PD_PLUGIN_ABI_MINOR + 1;
#elif defined(BROKEN_SMALL_STRUCT)
    desc.struct_size = 8;
#elif defined(BROKEN_BAD_KIND)
    desc.kind = (pd_plugin_kind)7;
#elif defined(BROKEN_KIND_VTABLE)
    desc.kind = PD_PLUGIN_DECODER; /* a loss vtable behind a decoder kind */
#elif defined(BROKEN_BAD_NAME)
    desc.name = "Bad-Name";
#elif defined(BROKEN_NULL_VERSION)
    desc.version = NULL;
#elif defined(BROKEN_NULL_VTABLE)
    desc.vtable = NULL;
#elif defined(BROKEN_SMALL_VTABLE)
    vtable.struct_size = 4;
#elif defined(BROKEN_NULL_FORWARD)
    vtable.forward = NULL;
#elif defined(BROKEN_KEY_BAD_NAME)
    keys[1].name = "Bad Key";
#elif defined(BROKEN_KEY_BAD_TYPE)
    keys[1].type = (pd_key_type)9;
#elif defined(BROKEN_KEY_BAD_DEFAULT)
    keys[0].default_value = "abc";
#elif defined(BROKEN_KEY_NULL_DEFAULT)
    keys[0].default_value = NULL;
#elif defined(BROKEN_KEY_OUT_OF_RANGE)
    keys[0].default_value = "-2";
#elif defined(BROKEN_KEY_BAD_ENUM)
    keys[1].default_value = "c";
#elif defined(BROKEN_KEY_DUPLICATE)
    keys[1].name = "scale";
#elif defined(BROKEN_KEY_WEIGHT)
    keys[1].name = "weight";
#endif
    return &desc;
}

#if defined(BROKEN_NO_ENTRY)
/* A misspelt entry point: the loader must not find it. */
PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entri(void) { return broken_desc(); }
#else
PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return broken_desc(); }
#endif
