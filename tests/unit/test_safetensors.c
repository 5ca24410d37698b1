/* safetensors reader/writer: round trip, every corruption refused with a
 * message naming the file and the problem, atomic replacement. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "pixeldit/safetensors.h"

static char tmpdir[256];

static int make_tmpdir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pd_st_test.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* Writes a hand-made file: 8-byte length (header_len_override if nonzero,
 * else strlen(json)), the JSON, then ndata bytes of data. */
static void write_raw(const char *path, const char *json, uint64_t header_len_override,
                      size_t ndata) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint64_t n = header_len_override ? header_len_override : strlen(json);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    assert_int_equal(fwrite(len, 1, 8, fp), 8);
    assert_int_equal(fwrite(json, 1, strlen(json), fp), strlen(json));
    for (size_t i = 0; i < ndata; i++) fputc((int)(i & 0xFF), fp);
    fclose(fp);
}

/* Opens path expecting failure with status want and sub in the message
 * (which must also name the file). */
static void expect_refused(const char *path, pd_status want, const char *sub) {
    pd_st_file *f = (pd_st_file *)1;
    pd_status s = pd_st_open(path, &f);
    if (s != want)
        fail_msg("%s: expected status %s, got %s (%s)", path, pd_status_name(want),
                 pd_status_name(s), pd_last_error());
    assert_null(f);
    TU_ASSERT_CONTAINS(pd_last_error(), sub);
    TU_ASSERT_CONTAINS(pd_last_error(), path);
}

static void test_round_trip(void **state) {
    (void)state;
    float a[6] = {1.5f, -2.0f, 3.25f, 1e-30f, -0.0f, 7.0f};
    double b[4] = {0.1, -0.2, 1e300, 4.0};
    int64_t ids[3] = {-1, 0, 1LL << 40};
    int32_t i32[4] = {1, -2, 3, -4};
    uint8_t u8[5] = {0, 1, 127, 128, 255};
    float scalar = 42.0f;
    pd_st_writer *w = pd_st_writer_new();
    assert_non_null(w);
    assert_int_equal(pd_st_writer_add(w, "blocks.0.attn.qkv.weight", PD_ST_F32, (int[]){2, 3}, 2, a), PD_OK);
    assert_int_equal(pd_st_writer_add(w, "b64", PD_ST_F64, (int[]){4}, 1, b), PD_OK);
    assert_int_equal(pd_st_writer_add(w, "ids", PD_ST_I64, (int[]){3}, 1, ids), PD_OK);
    assert_int_equal(pd_st_writer_add(w, "i32", PD_ST_I32, (int[]){2, 2}, 2, i32), PD_OK);
    assert_int_equal(pd_st_writer_add(w, "u8", PD_ST_U8, (int[]){5}, 1, u8), PD_OK);
    assert_int_equal(pd_st_writer_add(w, "scalar", PD_ST_F32, NULL, 0, &scalar), PD_OK);
    assert_int_equal(pd_st_writer_add(w, "empty", PD_ST_F32, (int[]){0, 3}, 2, NULL), PD_OK);
    assert_int_equal(pd_st_writer_add(w, "quote\"back\\slash", PD_ST_U8, (int[]){1}, 1, u8), PD_OK);
    assert_int_equal(pd_st_writer_set_metadata(w, "format", "pt"), PD_OK);
    assert_int_equal(pd_st_writer_set_metadata(w, "note", "line1\nline2 \"q\" caf\xc3\xa9"), PD_OK);
    assert_int_equal(pd_st_writer_set_metadata(w, "format", "pixeldit"), PD_OK); /* replaces */
    /* refused additions */
    assert_int_equal(pd_st_writer_add(w, "b64", PD_ST_F32, (int[]){1}, 1, a), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_last_error(), "'b64' added twice");
    assert_int_equal(pd_st_writer_add(w, "__metadata__", PD_ST_F32, (int[]){1}, 1, a), PD_ERR_ARG);
    assert_int_equal(pd_st_writer_add(w, "neg", PD_ST_F32, (int[]){-1}, 1, a), PD_ERR_ARG);

    const char *path = tmp_path("rt.safetensors");
    assert_int_equal(pd_st_writer_write(w, path), PD_OK);
    pd_st_writer_free(w);

    /* header length is a multiple of 8 (space padded) */
    FILE *fp = fopen(path, "rb");
    unsigned char len[8];
    assert_int_equal(fread(len, 1, 8, fp), 8);
    fclose(fp);
    assert_int_equal(len[0] % 8, 0);

    pd_st_file *f = NULL;
    if (pd_st_open(path, &f) != PD_OK) fail_msg("%s", pd_last_error());
    assert_int_equal(pd_st_count(f), 8);
    assert_string_equal(pd_st_at(f, 0)->name, "blocks.0.attn.qkv.weight"); /* header order */
    assert_string_equal(pd_st_at(f, 7)->name, "quote\"back\\slash");
    const pd_st_tensor *t = pd_st_find(f, "blocks.0.attn.qkv.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, PD_ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->nbytes, sizeof a);
    assert_memory_equal(t->data, a, sizeof a);
    assert_int_equal((uintptr_t)t->data % 64, 0); /* data area is aligned in memory */
    assert_memory_equal(pd_st_find(f, "b64")->data, b, sizeof b);
    assert_memory_equal(pd_st_find(f, "ids")->data, ids, sizeof ids);
    assert_memory_equal(pd_st_find(f, "i32")->data, i32, sizeof i32);
    assert_memory_equal(pd_st_find(f, "u8")->data, u8, sizeof u8);
    assert_int_equal(pd_st_find(f, "ids")->dtype, PD_ST_I64);
    assert_int_equal(pd_st_find(f, "u8")->dtype, PD_ST_U8);
    t = pd_st_find(f, "scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    assert_memory_equal(t->data, &scalar, 4);
    t = pd_st_find(f, "empty");
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->nbytes, 0);
    assert_null(pd_st_find(f, "nope"));
    /* metadata, escapes decoded */
    assert_int_equal(pd_st_metadata_count(f), 2);
    assert_string_equal(pd_st_metadata(f, "format"), "pixeldit");
    assert_string_equal(pd_st_metadata(f, "note"), "line1\nline2 \"q\" caf\xc3\xa9");
    assert_null(pd_st_metadata(f, "missing"));
    const char *k, *v;
    pd_st_metadata_at(f, 1, &k, &v);
    assert_string_equal(k, "note");
    /* conversion with shape check */
    float got[6];
    assert_int_equal(pd_st_read_f32(f, "blocks.0.attn.qkv.weight", got, (int[]){2, 3}, 2), PD_OK);
    assert_memory_equal(got, a, sizeof a);
    assert_int_equal(pd_st_read_f32(f, "b64", got, (int[]){4}, 1), PD_OK);
    for (int i = 0; i < 4; i++) assert_true(got[i] == (float)b[i]);
    assert_int_equal(pd_st_read_f32(f, "blocks.0.attn.qkv.weight", got, (int[]){3, 2}, 2),
                     PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_last_error(), "'blocks.0.attn.qkv.weight' has shape (2, 3) F32, expected (3, 2)");
    assert_int_equal(pd_st_read_f32(f, "ids", got, (int[]){3}, 1), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "'ids' is I64");
    assert_int_equal(pd_st_read_f32(f, "nope", got, (int[]){3}, 1), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "no tensor 'nope'");
    pd_st_close(f);
}

/* A file our writer did not make: header not padded, so the data area is
 * unaligned in the file; metadata first; \u escapes and surrogate pairs. */
static void test_reads_foreign_layout(void **state) {
    (void)state;
    const char *path = tmp_path("foreign.safetensors");
    write_raw(path,
              "{\"__metadata__\":{\"k\":\"\\u00e9\\ud83d\\ude00\\/\"},"
              " \"x\" : {\"shape\":[2],\"dtype\":\"U8\",\"data_offsets\":[1,3]}}",
              0, 4);
    pd_st_file *f = NULL;
    if (pd_st_open(path, &f) != PD_OK) fail_msg("%s", pd_last_error());
    assert_string_equal(pd_st_metadata(f, "k"), "\xc3\xa9\xf0\x9f\x98\x80/");
    const unsigned char *d = pd_st_find(f, "x")->data;
    assert_int_equal(d[0], 1);
    assert_int_equal(d[1], 2);
    pd_st_close(f);
}

typedef struct {
    const char *json;
    uint64_t len_override;
    size_t ndata;
    pd_status status;
    const char *message;
} corrupt_case;

static void test_corruptions_refused(void **state) {
    (void)state;
    const corrupt_case cases[] = {
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 18432, 4,
         PD_ERR_FORMAT, "truncated: header says 18432 bytes, file has"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1] \"data_offsets\":[0,4]}}", 0, 4, PD_ERR_FORMAT,
         "bad JSON header: at byte 32: expected ',' or '}' in object"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 0, 4, PD_ERR_FORMAT,
         "bad JSON header"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} xx", 0, 4, PD_ERR_FORMAT,
         "unexpected data after the JSON value"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 0, 4, PD_ERR_FORMAT,
         "not an integer"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"x\":{\"dtype\":\"F32\","
         "\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8, PD_ERR_FORMAT, "tensor 'x' appears twice"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 0, 16, PD_ERR_FORMAT,
         "tensor 'x': data_offsets [0, 400] outside the 16-byte data area"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\","
         "\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 12, PD_ERR_FORMAT,
         "tensors 'a' [0, 8] and 'b' [4, 12] overlap"},
        {"{\"blocks.0.attn.qkv.weight\":{\"dtype\":\"F32\",\"shape\":[10,12],\"data_offsets\":"
         "[0,400]}}", 0, 480, PD_ERR_FORMAT,
         "tensor 'blocks.0.attn.qkv.weight': data_offsets [0, 400] but shape (10, 12) F32 needs "
         "480 bytes"},
        {"{\"x\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 0, 1, PD_ERR_FORMAT,
         "tensor 'x': unknown dtype \"F8\""},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 0, 4, PD_ERR_FORMAT,
         "not an increasing pair"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 0, 4, PD_ERR_FORMAT,
         "\"data_offsets\" must be an array of 2 integers"},
        {"{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 0, 4, PD_ERR_FORMAT,
         "\"shape\" missing"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"offsets\":1}}", 0, 4,
         PD_ERR_FORMAT, "unknown key \"offsets\""},
        {"{\"x\":[1,2]}", 0, 0, PD_ERR_FORMAT, "tensor 'x': entry is a JSON array"},
        {"[1,2]", 0, 0, PD_ERR_FORMAT, "header is a JSON array, expected an object"},
        {"{\"__metadata__\":{\"k\":1}}", 0, 0, PD_ERR_FORMAT, "metadata \"k\" is a JSON integer"},
        {"{\"__metadata__\":{\"k\":true}}", 0, 0, PD_ERR_FORMAT, "true/false/null"},
        {"{\"k\xff\":{}}", 0, 0, PD_ERR_FORMAT, "invalid UTF-8"},
        {"{\"k\\ud800\":{}}", 0, 0, PD_ERR_FORMAT, "without its low half"},
        {"{\"k\\q\":{}}", 0, 0, PD_ERR_FORMAT, "bad escape"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 0, 0,
         PD_ERR_FORMAT, "nesting deeper than"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999],\"data_offsets\":[0,4]}}", 0, 4,
         PD_ERR_FORMAT, "shape entry 0 is not an integer in"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 0,
         4, PD_ERR_FORMAT, "does not fit in 64 bits"},
    };
    const char *path = tmp_path("bad.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(path, cases[i].json, cases[i].len_override, cases[i].ndata);
        print_message("  case %zu: expect \"%s\"\n", i, cases[i].message);
        expect_refused(path, cases[i].status, cases[i].message);
    }
}

static void test_short_and_missing_files(void **state) {
    (void)state;
    const char *path = tmp_path("short.safetensors");
    FILE *fp = fopen(path, "wb");
    fwrite("\x10\0\0\0\0", 1, 5, fp);
    fclose(fp);
    expect_refused(path, PD_ERR_FORMAT, "truncated: file has 5 bytes");
    expect_refused(tmp_path("does_not_exist.safetensors"), PD_ERR_IO, "cannot open");
    expect_refused(tmpdir, PD_ERR_IO, "not a regular file");
    /* a good file cut short: its last tensor points past the end */
    float x[64] = {0};
    pd_st_writer *w = pd_st_writer_new();
    pd_st_writer_add(w, "x", PD_ST_F32, (int[]){64}, 1, x);
    path = tmp_path("cut.safetensors");
    assert_int_equal(pd_st_writer_write(w, path), PD_OK);
    pd_st_writer_free(w);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 10), 0);
    expect_refused(path, PD_ERR_FORMAT, "tensor 'x': data_offsets [0, 256] outside the 246-byte");
}

static bool temp_file_left(const char *path) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    return access(tmp, F_OK) == 0;
}

static void write_one(const char *path, float value, int n, pd_status want) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int i = 0; i < n; i++) x[i] = value;
    pd_st_writer *w = pd_st_writer_new();
    pd_st_writer_add(w, "x", PD_ST_F32, (int[]){n}, 1, x);
    pd_status s = pd_st_writer_write(w, path);
    if (s != want) fail_msg("write %s: expected %s, got %s (%s)", path, pd_status_name(want),
                            pd_status_name(s), pd_last_error());
    pd_st_writer_free(w);
    free(x);
}

static float first_value(const char *path) {
    pd_st_file *f = NULL;
    if (pd_st_open(path, &f) != PD_OK) fail_msg("%s", pd_last_error());
    float v;
    memcpy(&v, pd_st_find(f, "x")->data, 4);
    pd_st_close(f);
    return v;
}

static void test_atomic_write(void **state) {
    (void)state;
    /* missing directory: error, nothing created */
    const char *bad = tmp_path("no/such/dir/x.safetensors");
    write_one(bad, 1.0f, 4, PD_ERR_IO);
    TU_ASSERT_CONTAINS(pd_last_error(), "cannot create temporary file");
    TU_ASSERT_CONTAINS(pd_last_error(), "x.safetensors");

    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("ckpt.safetensors"));
    write_one(path, 1.0f, 4, PD_OK);
    write_one(path, 2.0f, 4, PD_OK); /* success replaces */
    assert_true(first_value(path) == 2.0f);
    assert_false(temp_file_left(path));

    /* a write that fails half-way (file size limit -> EFBIG) keeps the old file */
    struct rlimit old_lim, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    lim = old_lim;
    lim.rlim_cur = 4096;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    write_one(path, 3.0f, 100000, PD_ERR_IO);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, old_sig);
    TU_ASSERT_CONTAINS(pd_last_error(), "write to");
    assert_true(first_value(path) == 2.0f);
    assert_false(temp_file_left(path));

    /* rename refused (target is a directory): temp file removed */
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tmp_path("adir"));
    assert_int_equal(mkdir(dir, 0755), 0);
    char inner[600];
    snprintf(inner, sizeof inner, "%s/keep", dir);
    fclose(fopen(inner, "w"));
    write_one(dir, 4.0f, 4, PD_ERR_IO);
    TU_ASSERT_CONTAINS(pd_last_error(), "cannot rename");
    assert_false(temp_file_left(dir));
    assert_int_equal(access(inner, F_OK), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reads_foreign_layout),
        cmocka_unit_test(test_corruptions_refused),
        cmocka_unit_test(test_short_and_missing_files),
        cmocka_unit_test(test_atomic_write),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
