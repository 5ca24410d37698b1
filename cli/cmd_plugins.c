/* pixeldit plugins [NAME] */
#include <stdio.h>

#include "cli.h"

int cmd_plugins(int argc, char **argv) {
    const char *name = NULL;
    const cli_command cmd = {.name = "plugins", .operand = "NAME", .operands = &name, .max_operands = 1,
                             .epilog = "Lists the plugins found in PIXELDIT_PLUGIN_PATH, the build tree "
                                       "and the install folder,\nwith kind, version, path and config "
                                       "keys; with NAME, that plugin only.\n"};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    if (pd_plugins_print(stdout, name)) return cli_fail("plugins");
    return CLI_OK;
}
