/* The subcommands' option-table parser (cli/cli_opts.c): both value
 * forms, strict numbers and ranges, repeatable options, operands, required
 * options, "did you mean", and help text made from the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

/* One command with every kind of option; reset before each parse. */
typedef struct {
    const char *config, *out, *sampler, *sets[3];
    int n_sets, n_configs;
    bool quiet;
    long steps, seed, big;
    double minutes;
} vals;

static vals v;
static const cli_opt opts[] = {
    {.name = "--out", .kind = CLI_STRING, .arg = "DIR", .dst = &v.out, .required = true, .help = "run folder"},
    {.name = "--steps", .kind = CLI_INT, .arg = "N", .dst = &v.steps, .min = 0, .max = 100, .help = "steps"},
    {.name = "--big", .kind = CLI_INT, .arg = "B", .dst = &v.big, .min = 0, .max = 0x1p53, .help = "big"},
    {.name = "--seed", .kind = CLI_INT, .arg = "S", .dst = &v.seed, .min = -5, .max = CLI_NO_MAX,
     .help = "seed\nsecond help line"},
    {.name = "--minutes", .kind = CLI_DOUBLE, .arg = "M", .dst = &v.minutes, .min = 0, .max = 1e3,
     .help = "minutes"},
    {.name = "--sampler", .kind = CLI_STRING, .arg = "heun|euler", .dst = &v.sampler, .choices = "heun|euler",
     .help = "sampler"},
    {.name = "--set", .kind = CLI_STRINGS, .arg = "s.k=v", .dst = v.sets, .max_count = 3, .count = &v.n_sets,
     .help = "override"},
    {.name = "--quiet", .kind = CLI_FLAG, .dst = &v.quiet, .help = "no progress"},
};
static const cli_command cmd = {.name = "demo", .operand = "CONFIG", .operands = &v.config,
                                .n_operands = &v.n_configs, .min_operands = 1, .max_operands = 1,
                                .opts = opts, .n_opts = (int)(sizeof opts / sizeof *opts),
                                .epilog = "the epilog\n"};

static char captured[16384];

/* Runs the parser on a NULL-terminated list of arguments with stdout and
 * stderr captured into `captured`. */
static int parse(const char *first, ...) {
    char *argv[32] = {"demo"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 32; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
    va_end(ap);
    memset(&v, 0, sizeof v);
    v.steps = -1;
    fflush(stdout);
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int out = dup(1), err = dup(2);
    dup2(fileno(tmp), 1);
    dup2(fileno(tmp), 2);
    int rc = cli_parse(&cmd, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    rewind(tmp);
    size_t n = fread(captured, 1, sizeof captured - 1, tmp);
    captured[n] = '\0';
    fclose(tmp);
    return rc;
}

/* The first line: the message before the usage. */
static const char *first_line(void) {
    static char line[512];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(captured, "\n"), captured);
    return line;
}

static void test_both_value_forms(void **state) {
    (void)state;
    assert_int_equal(parse("a.ini", "--out", "r", "--steps=7", "--seed", "-3", "--minutes=2.5", "--quiet",
                           "--set", "x.y=1", "--set=z.w=2", "--sampler", "euler", NULL),
                     CLI_CONTINUE);
    assert_string_equal(v.config, "a.ini");
    assert_int_equal(v.n_configs, 1);
    assert_string_equal(v.out, "r");
    assert_int_equal(v.steps, 7);
    assert_int_equal(v.seed, -3); /* a value may start with '-' */
    assert_true(v.minutes == 2.5);
    assert_true(v.quiet);
    assert_int_equal(v.n_sets, 2);
    assert_string_equal(v.sets[0], "x.y=1");
    assert_string_equal(v.sets[1], "z.w=2"); /* only the first '=' splits */
    assert_string_equal(v.sampler, "euler");
    assert_string_equal(captured, "");
    /* the last of a repeated single-value option wins; unset options keep their default */
    assert_int_equal(parse("--out", "a", "--out=b", "c.ini", NULL), CLI_CONTINUE);
    assert_string_equal(v.out, "b");
    assert_int_equal(v.steps, -1);
    assert_false(v.quiet);
}

static void test_strict_numbers(void **state) {
    (void)state;
    const char *bad_ints[] = {"12x", " 3", "3 ", "", "1e2", "0x10", "99999999999999999999", "nan"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof *bad_ints; i++) {
        assert_int_equal(parse("c.ini", "--out", "r", "--steps", bad_ints[i], NULL), CLI_USAGE);
        char want[128];
        snprintf(want, sizeof want, "pixeldit: --steps %s: expected an integer in 0..100", bad_ints[i]);
        assert_string_equal(first_line(), want);
    }
    const char *bad_doubles[] = {"nan", "inf", "-inf", "1e999", "2.5.1", "", " 1"};
    for (size_t i = 0; i < sizeof bad_doubles / sizeof *bad_doubles; i++) {
        assert_int_equal(parse("c.ini", "--out", "r", "--minutes", bad_doubles[i], NULL), CLI_USAGE);
        assert_non_null(strstr(first_line(), "expected a finite number in 0..1000"));
    }
}

static void test_ranges(void **state) {
    (void)state;
    assert_int_equal(parse("c.ini", "--out", "r", "--steps", "0", NULL), CLI_CONTINUE);
    assert_int_equal(parse("c.ini", "--out", "r", "--steps", "100", NULL), CLI_CONTINUE);
    assert_int_equal(v.steps, 100);
    assert_int_equal(parse("c.ini", "--out", "r", "--steps", "101", NULL), CLI_USAGE);
    assert_int_equal(parse("c.ini", "--out", "r", "--steps", "-1", NULL), CLI_USAGE);
    assert_int_equal(parse("c.ini", "--out", "r", "--seed", "-6", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: --seed -6: expected an integer in -5..9223372036854775807");
    /* bounds compared as 64-bit integers (issue 27): as doubles 2^53 + 1
     * equals 2^53 and slipped through */
    assert_int_equal(parse("c.ini", "--out", "r", "--big", "9007199254740992", NULL), CLI_CONTINUE);
    assert_int_equal(parse("c.ini", "--out", "r", "--big", "9007199254740993", NULL), CLI_USAGE);
    assert_string_equal(first_line(),
                        "pixeldit: --big 9007199254740993: expected an integer in 0..9007199254740992");
    assert_int_equal(parse("c.ini", "--out", "r", "--big", "4611686018427387914", NULL), CLI_USAGE);
    assert_int_equal(parse("c.ini", "--out", "r", "--seed", "9223372036854775807", NULL), CLI_CONTINUE);
    assert_int_equal(parse("c.ini", "--out", "r", "--minutes", "1000.5", NULL), CLI_USAGE);
    assert_int_equal(parse("c.ini", "--out", "r", "--sampler", "rk4", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: --sampler rk4: expected one of heun|euler");
    assert_int_equal(parse("c.ini", "--out", "r", "--sampler", "heu", NULL), CLI_USAGE);
}

static void test_unknown_options(void **state) {
    (void)state;
    assert_int_equal(parse("c.ini", "--out", "r", "--stpes", "3", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: unknown option '--stpes' (did you mean '--steps'?)");
    assert_int_equal(parse("c.ini", "--out", "r", "--minuts=3", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: unknown option '--minuts=3' (did you mean '--minutes'?)");
    assert_int_equal(parse("c.ini", "--out", "r", "--frobnicate", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: unknown option '--frobnicate'");
    assert_int_equal(parse("c.ini", "--out", "r", "-q", NULL), CLI_USAGE);
    /* a prefix is not an abbreviation */
    assert_int_equal(parse("c.ini", "--out", "r", "--qui", NULL), CLI_USAGE);
}

static void test_values_and_counts(void **state) {
    (void)state;
    assert_int_equal(parse("c.ini", "--out", "r", "--steps", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: --steps needs a value (N)");
    assert_int_equal(parse("c.ini", "--out", "r", "--quiet=yes", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: --quiet takes no value");
    assert_int_equal(parse("c.ini", "--out", "r", "--set", "a", "--set", "b", "--set", "c", NULL), CLI_CONTINUE);
    assert_int_equal(v.n_sets, 3);
    assert_int_equal(parse("c.ini", "--out", "r", "--set", "a", "--set", "b", "--set", "c", "--set", "d", NULL),
                     CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: too many --set options (3 at most)");
    /* an empty value is a value */
    assert_int_equal(parse("c.ini", "--out=", NULL), CLI_CONTINUE);
    assert_string_equal(v.out, "");
}

static void test_operands_and_required(void **state) {
    (void)state;
    assert_int_equal(parse("--out", "r", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: demo needs CONFIG");
    assert_int_equal(parse("c.ini", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: demo needs --out DIR");
    assert_int_equal(parse("a.ini", "b.ini", "--out", "r", NULL), CLI_USAGE);
    assert_string_equal(first_line(), "pixeldit: unexpected argument 'b.ini' (1 CONFIG at most)");
    /* after "--" everything is an operand, dashes or not; "-" alone is one too */
    assert_int_equal(parse("--out", "r", "--", "--weird.ini", NULL), CLI_CONTINUE);
    assert_string_equal(v.config, "--weird.ini");
    assert_int_equal(parse("--out", "r", "-", NULL), CLI_CONTINUE);
    assert_string_equal(v.config, "-");
}

static void test_help_comes_from_the_table(void **state) {
    (void)state;
    /* --help wins anywhere, even after an error-free prefix and without required options */
    assert_int_equal(parse("--steps", "3", "--help", NULL), CLI_OK);
    assert_non_null(strstr(captured, "usage: pixeldit demo CONFIG --out DIR [--steps N]"));
    for (int i = 0; i < cmd.n_opts; i++) {
        char line[128];
        /* in the synopsis and in the option list, with its help */
        assert_non_null(strstr(captured, opts[i].name));
        snprintf(line, sizeof line, "  %s", opts[i].name);
        assert_non_null(strstr(captured, line));
        assert_non_null(strstr(captured, strtok(strcpy(line, opts[i].help), "\n")));
    }
    assert_non_null(strstr(captured, "[--set s.k=v ...]"));
    assert_non_null(strstr(captured, "override (repeatable)"));
    assert_non_null(strstr(captured, "\n                     second help line\n"));
    assert_non_null(strstr(captured, "\nthe epilog\n"));
    assert_int_equal(parse("-h", NULL), CLI_OK);
    /* an error prints the same usage after its message */
    char help[sizeof captured];
    parse("--help", NULL);
    strcpy(help, captured);
    assert_int_equal(parse("--bogus", NULL), CLI_USAGE);
    assert_string_equal(strchr(captured, '\n') + 1, help);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_value_forms),   cmocka_unit_test(test_strict_numbers),
        cmocka_unit_test(test_ranges),             cmocka_unit_test(test_unknown_options),
        cmocka_unit_test(test_values_and_counts),  cmocka_unit_test(test_operands_and_required),
        cmocka_unit_test(test_help_comes_from_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
