/* One text rule for core and plugin keys (core/config/value_text.h): the
 * same text is accepted or refused alike by a core int/float/bool key and
 * a plugin INT/FLOAT/BOOL key, and gives the same value. */
#include "test_util.h"
#include "config/config_internal.h"
#include "plugin/plugin_internal.h"

static const pd_plugin_key int_key = {"n", PD_KEY_INT, "0", "test", NULL};
static const pd_plugin_key float_key = {"x", PD_KEY_FLOAT, "0", "test", NULL};
static const pd_plugin_key bool_key = {"b", PD_KEY_BOOL, "false", "test", NULL};

/* texts and whether they are valid integers / numbers / bools */
static const struct {
    const char *text;
    bool is_int, is_num, is_bool;
} cases[] = {
    {"5", true, true, false},       {"-12", true, true, false},   {"+7", true, true, false},
    {"0", true, true, true},        {"1", true, true, true},      {" 5", false, false, false},
    {"\t5", false, false, false},   {"\n5", false, false, false}, {"5 ", false, false, false},
    {"", false, false, false},      {"5x", false, false, false},  {"1.5", false, true, false},
    {"1e-4", false, true, false},   {"1e999", false, false, false}, {"-1e999", false, false, false},
    {"1e-400", false, true, false}, {"inf", false, false, false}, {"nan", false, false, false},
    {"99999999999999999999", false, true, false}, {"yes", false, false, true},
    {"On", false, false, true},     {"FALSE", false, false, true}, {"y", false, false, false},
};

static void test_core_and_plugin_agree(void **state) {
    (void)state;
    char why[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        long l = 0;
        double d = 0;
        bool b = false;
        pd_key_value v;
        assert_int_equal(pd_text_to_long(t, &l), cases[i].is_int);
        assert_int_equal(pd_key_parse(&int_key, t, &v, why, sizeof why), cases[i].is_int);
        if (cases[i].is_int) assert_int_equal(v.i, l);
        assert_int_equal(pd_text_to_double(t, &d), cases[i].is_num);
        assert_int_equal(pd_cfg_parse_double(t, &d), cases[i].is_num);
        assert_int_equal(pd_key_parse(&float_key, t, &v, why, sizeof why), cases[i].is_num);
        if (cases[i].is_num) assert_true(v.f == d);
        assert_int_equal(pd_cfg_parse_bool(t, &b), cases[i].is_bool);
        assert_int_equal(pd_key_parse(&bool_key, t, &v, why, sizeof why), cases[i].is_bool);
        if (cases[i].is_bool) assert_int_equal(v.b, b);
    }
}

/* A core int key is an int: the shared rule, then the field's range. */
static void test_core_int_range(void **state) {
    (void)state;
    int n = 0;
    assert_true(pd_cfg_parse_int("2147483647", &n) && n == 2147483647);
    assert_false(pd_cfg_parse_int("2147483648", &n));
    assert_false(pd_cfg_parse_int(" 5", &n));
    long l;
    assert_true(pd_text_to_long("2147483648", &l) && l == 2147483648L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_and_plugin_agree),
        cmocka_unit_test(test_core_int_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
