/* Training on the new data sources (issue 17), a tiny model on a fixture
 * of JPEGs and PNGs written by the test:
 *   - a JPEG/PNG folder (in memory) and its packed file (mmap'd) train to
 *     the same checkpoint for the same seed, with and without prefetch;
 *   - resume is bit-exact with the prefetching loader;
 *   - a streamed folder (files decoded per batch) trains to the in-memory
 *     folder's checkpoint, with and without prefetch, resume included, and
 *     a corrupt file met while streaming fails the run naming the file;
 *   - a packed file several times larger than the memory the process may
 *     use trains (a child process in a memory-limited cgroup when the
 *     machine lets us make one, and always with its peak resident memory
 *     checked to stay far below the file's size). */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data_fixture.h"
#include "test_util.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/data.h"
#include "pixeldit/trainer.h"

static char tmpdir[64], root[128], packed[160];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/pd_test_data_train_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(root, sizeof root, "%s/images", tmpdir);
    snprintf(packed, sizeof packed, "%s/images.pack", tmpdir);
    if (fx_make_folder(root) != 36) return -1;
    pd_dataset_opts o = {.image_size = 16, .channels = 3};
    return pd_pack_folder(root, &o, packed, NULL, NULL, NULL) == PD_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tiny_ini =
    "[model]\nimage_size = 16\nchannels = 3\npatch_size = 4\nhidden_size = 32\ndepth = 2\n"
    "num_heads = 2\nbottleneck_dim = 8\nin_context_len = 2\nin_context_start = 1\nnum_classes = 3\n"
    "[diffusion]\nnoise_scale = 1.0\n"
    "[train]\nbatch_size = 8\nlr = 1e-3\nwarmup_steps = 2\nseed = 7\nhflip = true\nlog_every = 1000\n"
    "ckpt_every = 0\nsample_every = 0\nthreads = 2\nema_decay1 = 0.9\nema_decay2 = 0.99\n"
    "final_grid = false\n"
    "[sample]\nsteps = 2\nper_class = 1\n";

/* Trains `steps` (resuming from `resume` if set) on source/path with
 * prefetch, streaming a folder when stream; returns pd_train_run's status. */
static pd_status try_train(const char *dir, int64_t steps, const char *resume, const char *source,
                           const char *path, int prefetch, bool stream) {
    static pd_config cfg;
    char extra[512];
    pd_config_defaults(&cfg);
    if (pd_config_load_string(&cfg, tiny_ini, "tiny.ini")) fail_msg("%s", pd_last_error());
    snprintf(extra, sizeof extra, "[data]\nsource = %s\npath = %s\nprefetch = %d\nstream = %s\n",
             source, path, prefetch, stream ? "true" : "false");
    if (pd_config_load_string(&cfg, extra, "data.ini")) fail_msg("%s", pd_last_error());
    pd_train_opts o = {.cfg = &cfg, .out_dir = dir, .max_steps = steps, .resume = resume, .force = true};
    pd_train_result r;
    return pd_train_run(&o, &r);
}

static void train_stream(const char *dir, int64_t steps, const char *resume, const char *source,
                         const char *path, int prefetch, bool stream) {
    if (try_train(dir, steps, resume, source, path, prefetch, stream))
        fail_msg("train %s: %s", dir, pd_last_error());
}

static void train(const char *dir, int64_t steps, const char *resume, const char *source,
                  const char *path, int prefetch) {
    train_stream(dir, steps, resume, source, path, prefetch, false);
}

/* Every tensor and the training metadata of two checkpoints are equal. */
static void assert_same_checkpoint(const char *a, const char *b) {
    pd_st_file *fa, *fb;
    assert_int_equal(pd_st_open(a, &fa), PD_OK);
    assert_int_equal(pd_st_open(b, &fb), PD_OK);
    assert_int_equal(pd_st_count(fa), pd_st_count(fb));
    for (int i = 0; i < pd_st_count(fa); i++) {
        const pd_st_tensor *ta = pd_st_at(fa, i), *tb = pd_st_find(fb, ta->name);
        assert_non_null(tb);
        assert_int_equal(ta->nbytes, tb->nbytes);
        if (memcmp(ta->data, tb->data, ta->nbytes)) fail_msg("%s vs %s: tensor %s differs", a, b, ta->name);
    }
    const char *keys[] = {"step", "rng", "dropout_rng", "data.epoch", "data.pos", "data.rng", "optim.steps"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        assert_string_equal(pd_st_metadata(fa, keys[k]), pd_st_metadata(fb, keys[k]));
    pd_st_close(fa);
    pd_st_close(fb);
}

static const char *ckpt(char *buf, const char *run) {
    snprintf(buf, 300, "%s/%s/checkpoint-last.safetensors", tmpdir, run);
    return buf;
}
static const char *run_dir(char *buf, const char *run) {
    snprintf(buf, 300, "%s/%s", tmpdir, run);
    return buf;
}

/* 9 steps of 8 from 36 images: two epoch boundaries. */
static void test_packed_equals_folder_and_resume_is_exact(void **state) {
    (void)state;
    char d[300], a[300], b[300];
    train(run_dir(d, "folder"), 9, NULL, "folder", root, 0);
    train(run_dir(d, "packed"), 9, NULL, "packed", packed, 0);
    train(run_dir(d, "packed_prefetch"), 9, NULL, "packed", packed, 2);
    train(run_dir(d, "folder_prefetch"), 9, NULL, "folder", root, 3);
    assert_same_checkpoint(ckpt(a, "folder"), ckpt(b, "packed"));
    assert_same_checkpoint(ckpt(a, "folder"), ckpt(b, "packed_prefetch"));
    assert_same_checkpoint(ckpt(a, "folder"), ckpt(b, "folder_prefetch"));
    /* stopped after 4 with batches in flight, resumed for 5 */
    train(run_dir(d, "split"), 4, NULL, "packed", packed, 2);
    train(run_dir(d, "split"), 5, ckpt(b, "split"), "packed", packed, 2);
    assert_same_checkpoint(ckpt(a, "folder"), ckpt(b, "split"));
}

/* The same 9 steps with the folder streamed: batches decoded as they are
 * prepared (on the prefetch thread, or the caller's with prefetch 0). */
static void test_stream_equals_folder_and_resume_is_exact(void **state) {
    (void)state;
    char d[300], a[300], b[300];
    train(run_dir(d, "ref"), 9, NULL, "folder", root, 0);
    train_stream(run_dir(d, "stream"), 9, NULL, "folder", root, 0, true);
    train_stream(run_dir(d, "stream_prefetch"), 9, NULL, "folder", root, 2, true);
    assert_same_checkpoint(ckpt(a, "ref"), ckpt(b, "stream"));
    assert_same_checkpoint(ckpt(a, "ref"), ckpt(b, "stream_prefetch"));
    /* stopped after 4 with decodes in flight, resumed for 5 */
    train_stream(run_dir(d, "stream_split"), 4, NULL, "folder", root, 2, true);
    train_stream(run_dir(d, "stream_split"), 5, ckpt(b, "stream_split"), "folder", root, 2, true);
    assert_same_checkpoint(ckpt(a, "ref"), ckpt(b, "stream_split"));
    /* stream is for folders only */
    assert_int_equal(try_train(run_dir(d, "stream_packed"), 1, NULL, "packed", packed, 0, true),
                     PD_ERR_CONFIG);
    TU_ASSERT_CONTAINS(pd_last_error(), "stream = true needs source = folder");
}

/* A file that turns out corrupt while streaming (it was fine when listed):
 * the step fails with the file's path, with and without prefetch. */
static void test_stream_corrupt_file_is_named(void **state) {
    (void)state;
    char bad_root[200], victim[300], d[300];
    snprintf(bad_root, sizeof bad_root, "%s/bad_images", tmpdir);
    assert_int_equal(fx_make_folder(bad_root), 36);
    snprintf(victim, sizeof victim, "%s/plants/img01.JPG", bad_root);
    assert_int_equal(fx_damage(victim, victim, 200), 0); /* truncated in place */
    for (int prefetch = 0; prefetch <= 2; prefetch += 2) {
        assert_int_equal(try_train(run_dir(d, "stream_bad"), 9, NULL, "folder", bad_root, prefetch, true),
                         PD_ERR_FORMAT);
        TU_ASSERT_CONTAINS(pd_last_error(), "bad_images/plants/img01.JPG: corrupt or truncated JPEG");
    }
}

/* ---- larger than the memory the process may use ---- */

/* Puts this process in a new memory cgroup of at most `bytes`; returns
 * the cgroup's folder (to remove later) or NULL when the machine does not
 * allow it (no cgroup file system, not root, no memory controller). */
static const char *join_memory_cgroup(long long bytes, char *dir, size_t cap) {
    static const char *v2 = "/sys/fs/cgroup", *v1 = "/sys/fs/cgroup/memory";
    const char *base = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? v2 : v1;
    const char *limit = base == v2 ? "memory.max" : "memory.limit_in_bytes";
    const char *procs = base == v2 ? "cgroup.procs" : "tasks";
    snprintf(dir, cap, "%s/pixeldit-test-%ld", base, (long)getpid());
    if (mkdir(dir, 0755) != 0) return NULL;
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, limit);
    FILE *f = fopen(p, "w");
    bool ok = f && fprintf(f, "%lld\n", bytes) > 0;
    if (f) ok = (fclose(f) == 0) && ok;
    snprintf(p, sizeof p, "%s/%s", dir, procs);
    if (ok && (f = fopen(p, "w"))) {
        ok = fprintf(f, "%ld\n", (long)getpid()) > 0;
        ok = (fclose(f) == 0) && ok;
    } else {
        ok = false;
    }
    if (!ok) {
        rmdir(dir);
        return NULL;
    }
    return dir;
}

/* Peak resident memory of this process in bytes (VmHWM). */
static long long peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

static void test_packed_larger_than_memory_trains(void **state) {
    (void)state;
    /* 26000 images of 3x64x64 = 320 MB, from zero pages (nothing resident) */
    const int n = 26000, S = 64;
    size_t bytes = (size_t)n * 3 * S * S;
    char big[300];
    snprintf(big, sizeof big, "%s/big.pack", tmpdir);
    pd_dataset fake = {.n = n, .channels = 3, .size = S, .num_classes = 3};
    fake.map = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(fake.map != MAP_FAILED);
    fake.pixels = fake.map;
    fake.map_bytes = bytes;
    fake.labels = malloc(sizeof(int) * n);
    char *names[3] = {"a", "b", "c"};
    fake.class_names = names;
    for (int i = 0; i < n; i++) fake.labels[i] = i % 3;
    assert_int_equal(pd_pack_dataset(&fake, big, NULL), PD_OK);
    munmap(fake.map, bytes);
    free(fake.labels);

    const long long limit = 160ll << 20; /* half the file */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char cg[256];
        const char *joined = join_memory_cgroup(limit, cg, sizeof cg);
        static pd_config cfg;
        pd_config_defaults(&cfg);
        char ini[1024];
        snprintf(ini, sizeof ini,
                 "[model]\nimage_size = 64\nchannels = 3\npatch_size = 16\nhidden_size = 32\ndepth = 1\n"
                 "num_heads = 2\nbottleneck_dim = 8\nin_context_len = 0\nnum_classes = 3\n"
                 "[train]\nbatch_size = 16\nlr = 1e-3\nwarmup_steps = 1\nthreads = 1\nckpt_every = 0\n"
                 "final_grid = false\n[data]\nsource = packed\npath = %s\nprefetch = 2\n", big);
        char out[300];
        snprintf(out, sizeof out, "%s/big_run", tmpdir);
        pd_train_opts o = {.cfg = &cfg, .out_dir = out, .max_steps = 6, .force = true};
        pd_train_result r;
        int rc = pd_config_load_string(&cfg, ini, "big.ini") || pd_train_run(&o, &r);
        long long msg[3] = {rc, peak_rss(), joined != NULL};
        if (write(fds[1], msg, sizeof msg) != (ssize_t)sizeof msg) rc = 1;
        if (rc) fprintf(stderr, "child: %s\n", pd_last_error());
        _exit(rc ? 1 : 0);
    }
    close(fds[1]);
    long long msg[3] = {-1, -1, 0};
    ssize_t got = read(fds[0], msg, sizeof msg);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    char cg[256];
    snprintf(cg, sizeof cg, "/sys/fs/cgroup/%spixeldit-test-%ld",
             access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "" : "memory/", (long)pid);
    rmdir(cg); /* empty now that the child is gone */
    assert_int_equal(got, (ssize_t)sizeof msg);
    print_message("packed file %zu MB; child peak RSS %lld MB; memory cgroup of %lld MB: %s\n",
                  bytes >> 20, msg[1] >> 20, limit >> 20, msg[2] ? "yes" : "not available here");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(msg[0], 0);
    /* only the pages in use are resident: far below the file's size */
    assert_true(msg[1] > 0 && msg[1] < (long long)bytes / 2);
    unlink(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_equals_folder_and_resume_is_exact),
        cmocka_unit_test(test_stream_equals_folder_and_resume_is_exact),
        cmocka_unit_test(test_stream_corrupt_file_is_named),
        cmocka_unit_test(test_packed_larger_than_memory_trains),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
