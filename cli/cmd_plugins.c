/* pixeldit plugins [NAME] */
#include <stdio.h>

#include "cli.h"

int cmd_plugins(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        puts("usage: pixeldit plugins [NAME]\n\nLists the plugins found in PIXELDIT_PLUGIN_PATH, the "
             "build tree and the install folder,\nwith kind, version, path and config keys.");
        return CLI_OK;
    }
    if (pd_plugins_print(stdout, argc > 1 ? argv[1] : NULL)) return cli_fail("plugins");
    return CLI_OK;
}
