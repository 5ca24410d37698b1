/* The one location prefix of config messages, shared by the core keys
 * (config_apply.c, config_plugins.c) and the plugin keys
 * (core/plugin/plugin_section.c, plugin_config.c), so that every message
 * about a setting says where it came from the same way. Internal. */
#ifndef PD_CONFIG_WHERE_H
#define PD_CONFIG_WHERE_H

#include <stddef.h>

/* Into out:
 *   "cfg.ini:14: "              a file line (line > 0);
 *   "--set decoder.width=3: "   a layer without lines, the setting known;
 *   "--set: "                   a layer without lines, no setting given
 *                               (section or key NULL);
 *   ""                          no source (a default). */
void pd_cfg_location(char *out, size_t cap, const char *source, int line, const char *section,
                     const char *key, const char *value);

#endif
