/* pixeldit bench CONFIG: see bench/ (filled in by the benchmark work). */
#include <stdio.h>

#include "cli.h"

int cmd_bench(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "pixeldit: bench is not built yet in this version\n");
    return CLI_ERR;
}
