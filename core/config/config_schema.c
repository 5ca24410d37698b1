/* The config schema: every section and typed key, with defaults (the
 * official JiT-B/16 values, /work/shared/specs/jit.md), ranges and help. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "pixeldit/limits.h"

/* C enums are stored through int pointers by the value parser. */
_Static_assert(sizeof(pd_sampler_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(pd_sample_schedule) == sizeof(int), "enum size");
_Static_assert(sizeof(pd_data_source) == sizeof(int), "enum size");
_Static_assert(sizeof(pd_data_split) == sizeof(int), "enum size");
_Static_assert(sizeof(pd_data_fit) == sizeof(int), "enum size");
_Static_assert(sizeof(pd_precision) == sizeof(int), "enum size");
_Static_assert(sizeof(pd_eval_weights) == sizeof(int), "enum size");

const cfg_section pd_cfg_sections[] = {
    {"model", false, "Architecture of the JiT denoiser."},
    {"diffusion", false, "Flow-matching formulation: time sampler, noise, clamp, label dropout."},
    {"train", false, "Optimizer, schedule, EMA and bookkeeping of a training run."},
    {"sample", false, "Sampler for preview grids and sampling runs."},
    {"data", false, "Where training images come from and how they are shaped. Own images, packed files and the memory each option uses: [docs/data.md](data.md)."},
    {"eval", false, "Evaluation during training: every N steps the run samples a fixed set of images and appends FD, KID, precision/recall, class accuracy and grid score to eval.csv ([docs/eval.md](eval.md))."},
    {"decoder", true, "Plugin that turns the last tokens into pixels."},
    {"loss", true, "Plugin(s) computing the training loss."},
    {"attention", true, "Plugin computing self-attention."},
};
const int pd_cfg_n_sections = (int)(sizeof pd_cfg_sections / sizeof pd_cfg_sections[0]);

#define FIELD(f) offsetof(pd_config, f), sizeof(((pd_config *)0)->f)
#define NONE HUGE_VAL

#define INT_KEY(sec, key, f, d, lo, hi, h) \
    {.section = sec, .name = key, .type = CFG_INT, FIELD(f), .def = d, .min = lo, .max = hi, .help = h}
#define INT_ONE_OF(sec, key, f, d, ch, h) \
    {.section = sec, .name = key, .type = CFG_INT, FIELD(f), .def = d, .min = -NONE, .max = NONE, \
     .choices = ch, .help = h}
#define FLOAT_KEY(sec, key, f, d, lo, lo_open, hi, hi_open, h)                                \
    {.section = sec, .name = key, .type = CFG_FLOAT, FIELD(f), .def = d, .min = lo, .max = hi, \
     .min_open = lo_open, .max_open = hi_open, .help = h}
#define BOOL_KEY(sec, key, f, d, h) \
    {.section = sec, .name = key, .type = CFG_BOOL, FIELD(f), .def = d, .help = h}
#define ENUM_KEY(sec, key, f, d, ch, h) \
    {.section = sec, .name = key, .type = CFG_ENUM, FIELD(f), .def = d, .choices = ch, .help = h}
#define STRING_KEY(sec, key, f, d, h) \
    {.section = sec, .name = key, .type = CFG_STRING, FIELD(f), .def = d, .help = h}
#define PLUGIN_KEY(sec, f, d, h) \
    {.section = sec, .name = "plugin", .type = CFG_PLUGINS, FIELD(f), .def = d, .help = h}

static const char *const channels_ch[] = {"1", "3", NULL};
/* in enum order, as pd_sampler_name / pd_schedule_name (sampler_names.c) */
static const char *const sampler_ch[] = {"heun", "euler", "dpm++2m", "unipc", NULL};
static const char *const schedule_ch[] = {"auto", "uniform", "logit-normal", "logsnr", NULL};
_Static_assert(sizeof sampler_ch / sizeof *sampler_ch == PD_SAMPLER_COUNT + 1, "a name per sampler");
_Static_assert(sizeof schedule_ch / sizeof *schedule_ch == PD_SCHEDULE_COUNT + 1, "a name per schedule");
static const char *const source_ch[] = {"idx", "folder", "packed", NULL};
static const char *const split_ch[] = {"train", "test", NULL};
static const char *const fit_ch[] = {"pad", "resize", NULL};
/* in pd_precision order */
static const char *const eval_weights_ch[] = {"both", "ema1", "raw", NULL};
static const char *const precision_ch[] = {"fp32", "bf16", "bf16-emulated", NULL};

const cfg_key pd_cfg_keys[] = {
    /* [model] */
    {.section = "model", .name = "preset", .type = CFG_PRESET, FIELD(model.preset), .def = "",
     .help = "Named architecture that fills every [model] key first; explicit [model] keys override it."},
    INT_KEY("model", "image_size", model.image_size, "256", 1, PD_MAX_IMAGE_SIZE,
            "Side of the square images in pixels."),
    INT_ONE_OF("model", "channels", model.channels, "3", channels_ch,
               "Image channels: 1 (grayscale) or 3 (RGB)."),
    INT_KEY("model", "patch_size", model.patch_size, "16", 1, PD_MAX_PATCH_SIZE,
            "Side p of the square patch one token covers; image_size must be a multiple of it."),
    INT_KEY("model", "hidden_size", model.hidden_size, "768", 1, PD_MAX_HIDDEN_SIZE,
            "Token width D of the transformer."),
    INT_KEY("model", "depth", model.depth, "12", 1, PD_MAX_DEPTH, "Number of transformer blocks."),
    INT_KEY("model", "num_heads", model.num_heads, "12", 1, PD_MAX_HEADS,
            "Attention heads; the head dimension hidden_size / num_heads must be a multiple of 4 (2D RoPE)."),
    INT_KEY("model", "bottleneck_dim", model.bottleneck_dim, "128", 1, PD_MAX_BOTTLENECK_DIM,
            "Width d' of the linear bottleneck in the patch embedding (patch -> d' -> D)."),
    FLOAT_KEY("model", "mlp_ratio", model.mlp_ratio, "4.0", 0, true, PD_MAX_MLP_RATIO, false,
              "SwiGLU hidden width is int(int(D * mlp_ratio) * 2 / 3)."),
    INT_KEY("model", "in_context_len", model.in_context_len, "32", 0, PD_MAX_IN_CONTEXT_LEN,
            "Copies of the class embedding prepended as in-context tokens (0 = none)."),
    INT_KEY("model", "in_context_start", model.in_context_start, "4", 0, PD_MAX_DEPTH,
            "Index of the block before which the in-context tokens are inserted."),
    INT_KEY("model", "num_classes", model.num_classes, "1000", 1, PD_MAX_CLASSES,
            "Number of class labels; label num_classes is the null class used for guidance."),
    FLOAT_KEY("model", "proj_dropout", model.proj_dropout, "0.0", 0, false, 1, true,
              "Training dropout after the attention projection and on the SwiGLU hidden, middle half of the blocks."),
    FLOAT_KEY("model", "attn_dropout", model.attn_dropout, "0.0", 0, false, 1, true,
              "Training dropout on the attention probabilities; only 0 is supported (attention plugins take no dropout)."),

    /* [diffusion] */
    FLOAT_KEY("diffusion", "P_mean", diffusion.P_mean, "-0.8", -NONE, false, NONE, false,
              "Mean of the logit-normal time sampler: logit(t) ~ N(P_mean, P_std^2)."),
    FLOAT_KEY("diffusion", "P_std", diffusion.P_std, "0.8", 0, true, NONE, false,
              "Standard deviation of the logit-normal time sampler."),
    FLOAT_KEY("diffusion", "noise_scale", diffusion.noise_scale, "1.0", 0, true, NONE, false,
              "Standard deviation of the noise; JiT uses image_size / 256 (2.0 at 512 pixels)."),
    FLOAT_KEY("diffusion", "t_eps", diffusion.t_eps, "0.05", 0, true, 1, true,
              "Lower clamp on 1 - t when x-predictions are turned into velocities (training and sampling)."),
    FLOAT_KEY("diffusion", "label_drop_prob", diffusion.label_drop_prob, "0.1", 0, false, 1, false,
              "Probability that a training label is replaced by the null class, for guidance."),

    /* [train] */
    INT_KEY("train", "batch_size", train.batch_size, "64", 1, PD_MAX_BATCH, "Images per optimizer step."),
    FLOAT_KEY("train", "lr", train.lr, "0", 0, false, NONE, false,
              "Learning rate after warm-up; 0 = derive it from blr."),
    FLOAT_KEY("train", "blr", train.blr, "5e-5", 0, false, NONE, false,
              "Base learning rate, used when lr = 0: lr = blr * batch_size / 256."),
    FLOAT_KEY("train", "weight_decay", train.weight_decay, "0", 0, false, NONE, false,
              "AdamW decoupled weight decay."),
    FLOAT_KEY("train", "beta1", train.beta1, "0.9", 0, false, 1, true, "AdamW first-moment decay."),
    FLOAT_KEY("train", "beta2", train.beta2, "0.95", 0, false, 1, true, "AdamW second-moment decay."),
    FLOAT_KEY("train", "adam_eps", train.adam_eps, "1e-8", 0, true, NONE, false,
              "AdamW epsilon added to the square root of the second moment."),
    INT_KEY("train", "warmup_steps", train.warmup_steps, "0", 0, NONE,
            "Linear learning-rate warm-up in optimizer steps; 0 = use warmup_epochs."),
    FLOAT_KEY("train", "warmup_epochs", train.warmup_epochs, "5", 0, false, NONE, false,
              "Warm-up length in epochs, used when warmup_steps = 0 (0 = no warm-up)."),
    FLOAT_KEY("train", "grad_clip", train.grad_clip, "0", 0, false, NONE, false,
              "Clip the global gradient L2 norm to this value; 0 = no clipping."),
    FLOAT_KEY("train", "ema_decay1", train.ema_decay1, "0.9999", 0, false, 1, true,
              "Decay of the first EMA copy of the weights (sampled with sample.ema = 1)."),
    FLOAT_KEY("train", "ema_decay2", train.ema_decay2, "0.9996", 0, false, 1, true,
              "Decay of the second EMA copy of the weights (sample.ema = 2)."),
    BOOL_KEY("train", "ema_warmup", train.ema_warmup, "false",
             "EMA warm-up: update t (the optimizer steps before it) uses decay "
             "min(ema_decayN, (1 + t) / (10 + t)), as TensorFlow and timm do: early on an EMA "
             "averages about the last t / 9 steps and keeps almost nothing of the initial weights. "
             "false (JiT) uses the constant decay from the first step."),
    FLOAT_KEY("train", "ema_warmup_gamma", train.ema_warmup_gamma, "10", 1, true, 1e9, false,
              "The warm-up's gamma: update t uses min(ema_decayN, (1 + t) / (gamma + t)). 10 is "
              "TensorFlow's and timm's; a larger gamma averages fewer recent steps early on "
              "(about t / (gamma - 1)), so a young EMA lags the raw weights less."),
    INT_KEY("train", "seed", train.seed, "0", 0, NONE,
            "Seed for initialisation, data order, times, noise and label dropout."),
    BOOL_KEY("train", "hflip", train.hflip, "false", "Randomly flip training images horizontally."),
    INT_KEY("train", "epochs", train.epochs, "0", 0, NONE,
            "Stop after this many epochs; 0 = run until stopped."),
    INT_KEY("train", "log_every", train.log_every, "50", 1, NONE, "Report the loss every N steps."),
    INT_KEY("train", "ckpt_every", train.ckpt_every, "1000", 0, NONE,
            "Write a checkpoint every N steps; 0 = only when training ends."),
    INT_KEY("train", "sample_every", train.sample_every, "0", 0, NONE,
            "Write a preview grid of samples every N steps; 0 = off."),
    INT_KEY("train", "threads", train.threads, "0", 0, NONE,
            "CPU threads for OpenMP and OpenBLAS; 0 = the cores free when the command starts: "
            "those this process may run on (its CPU affinity: under mpirun, the cores of its "
            "rank) less the ones other runnable processes keep busy, at least 1. Results are "
            "bit-for-bit reproducible for a fixed thread count, so set one to repeat a run exactly."),
    BOOL_KEY("train", "fused_kernels", train.fused_kernels, "true",
             "Use the fused kernels (RMSNorm + modulate; qk-norm + RoPE + head split). false runs "
             "the composed reference ops they are tested against: same results to rounding, "
             "slower. Also used by sample, forward and bench."),
    ENUM_KEY("train", "precision", train.precision, "fp32", precision_ch,
             "Precision of the matrix products of training steps (and bench): fp32; bf16 (bf16 "
             "operands, fp32 accumulation, oneDNN's matmul; needs AVX512_BF16 or AMX-BF16 and a "
             "build with oneDNN, refused elsewhere); bf16-emulated (operands rounded to bf16, "
             "then fp32 sgemm: bf16 numerics only, no faster than fp32). Weights, optimizer state, "
             "EMAs, norms, softmax and losses stay fp32."),
    BOOL_KEY("train", "final_grid", train.final_grid, "true",
             "Write samples/final.png (one row per class, at most 10 classes, sampled with "
             "sample.ema) when training ends."),
    INT_KEY("train", "grid_steps", train.grid_steps, "20", 1, NONE,
            "Sampling steps of the grids training writes (final and every sample_every); "
            "cheaper than [sample] steps, which pixeldit sample uses. Sampler, cfg, seed and EMA "
            "come from [sample]."),
    INT_KEY("train", "grid_per_class", train.grid_per_class, "4", 1, NONE,
            "Images per class (grid columns) in the grids training writes."),

    /* [sample] */
    ENUM_KEY("sample", "sampler", sample.sampler, "heun", sampler_ch,
             "ODE solver: heun (second order, last step Euler, JiT's: 2 steps - 1 network "
             "evaluations), euler, dpm++2m (DPM-Solver++(2M)) or unipc (UniPC-bh2, third order); "
             "the last three take one evaluation per step. The default is JiT's (heun, 50 steps, "
             "99 evaluations), as every default here; the shipped small presets use unipc with "
             "20 steps, which matched it in FD at a fifth of the cost. Equations and the "
             "measurement: [docs/sampling.md](sampling.md)."),
    ENUM_KEY("sample", "schedule", sample.schedule, "auto", schedule_ch,
             "Time grid from 0 (noise) to 1 (image): uniform (JiT's linspace), logit-normal "
             "(quantiles of the training t of [diffusion] P_mean, P_std), logsnr (uniform in "
             "log(t / (1 - t)) over [-log 5n, log 5n] for n steps: t in [0.02, 0.98] at 10) or auto (each sampler's default: uniform)."),
    INT_KEY("sample", "steps", sample.steps, "50", 1, PD_MAX_SAMPLE_STEPS,
            "Steps of the time grid from 0 (noise) to 1 (image)."),
    FLOAT_KEY("sample", "cfg", sample.cfg, "3.0", 0, false, NONE, false,
              "Classifier-free guidance scale (1 = conditional only)."),
    FLOAT_KEY("sample", "cfg_interval_low", sample.cfg_interval_low, "0.1", 0, false, 1, false,
              "Guidance applies only when cfg_interval_low < t < cfg_interval_high (0 = no lower bound)."),
    FLOAT_KEY("sample", "cfg_interval_high", sample.cfg_interval_high, "1.0", 0, false, 1, false,
              "Upper end of the guidance interval."),
    INT_KEY("sample", "seed", sample.seed, "0", 0, NONE, "Seed for the sampling noise."),
    INT_KEY("sample", "per_class", sample.per_class, "8", 1, PD_MAX_PER_CLASS, "Images sampled per class."),
    INT_KEY("sample", "ema", sample.ema, "1", 0, 2,
            "Weights to sample with: 0 = raw model, 1 = EMA 1, 2 = EMA 2."),

    /* [data] */
    ENUM_KEY("data", "source", data.source, "idx", source_ch,
             "Dataset format: idx (MNIST-style IDX files), folder (one sub-folder of PNG/JPEG images per "
             "class) or packed (a file from `pixeldit data pack`, memory-mapped). See docs/data.md."),
    STRING_KEY("data", "path", data.path, "/usr/share/datasets/fashion-mnist",
               "Directory holding the dataset (idx, folder) or the packed file (packed)."),
    ENUM_KEY("data", "split", data.split, "train", split_ch, "Which split to read."),
    ENUM_KEY("data", "fit", data.fit, "pad", fit_ch,
             "How images of another size reach image_size: pad (centred on a border) or resize."),
    INT_KEY("data", "limit", data.limit, "0", 0, NONE, "Use only the first N images; 0 = all."),
    BOOL_KEY("data", "skip_corrupt", data.skip_corrupt, "false",
             "folder: skip (and count, with a warning naming each) images that fail to decode instead of stopping."),
    BOOL_KEY("data", "verify", data.verify, "true",
             "packed: check the payload's CRC-32 when the file is opened (one read of the whole file)."),
    INT_KEY("data", "prefetch", data.prefetch, "0", 0, 64,
            "Batches prepared ahead by a background thread while the model computes; 0 = off. Same batches either way."),
    BOOL_KEY("data", "stream", data.stream, "false",
             "folder: keep only the file list and decode each batch's images when it is prepared "
             "(on the prefetch thread) instead of all at start. Same batches; not with skip_corrupt."),

    /* [eval] */
    INT_KEY("eval", "every", eval.every, "0", 0, NONE,
            "Evaluate every N training steps and at the last step, appending to eval.csv in the run "
            "folder; 0 = off. The evaluation's time is not training time."),
    INT_KEY("eval", "n", eval.n, "500", 8, 100000, "Images sampled per evaluation (class-balanced)."),
    ENUM_KEY("eval", "sampler", eval.sampler, "unipc", sampler_ch,
             "Sampler of the evaluation (unipc 10 steps = 10 evaluations per image: at the same "
             "cost as euler 10, nearer heun 50's quality; docs/sampling.md)."),
    INT_KEY("eval", "steps", eval.steps, "10", 1, PD_MAX_SAMPLE_STEPS, "Sampler steps of the evaluation."),
    FLOAT_KEY("eval", "cfg", eval.cfg, "2.0", 0, false, NONE, false,
              "Guidance scale of the evaluation (the interval comes from [sample])."),
    INT_KEY("eval", "seed", eval.seed, "0", 0, NONE, "Sampling seed: the same noise at every evaluation."),
    ENUM_KEY("eval", "weights", eval.weights, "both", eval_weights_ch,
             "Weights evaluated: both (EMA 1 and raw, one row each), ema1 or raw."),

    /* plugin sections */
    PLUGIN_KEY("decoder", decoder, "jit_final_layer",
               "Decoder plugin: a plugin name or a path to a .so."),
    PLUGIN_KEY("loss", loss, "v_loss",
               "Loss plugin(s): names or .so paths, comma-separated to combine several."),
    PLUGIN_KEY("attention", attention, "sdpa", "Attention plugin: a plugin name or a path to a .so."),
};
const int pd_cfg_n_keys = (int)(sizeof pd_cfg_keys / sizeof pd_cfg_keys[0]);
_Static_assert(sizeof pd_cfg_keys / sizeof pd_cfg_keys[0] <= PD_CONFIG_MAX_KEYS,
               "raise PD_CONFIG_MAX_KEYS");

int pd_cfg_section_index(const char *name) {
    for (int i = 0; i < pd_cfg_n_sections; i++)
        if (strcmp(pd_cfg_sections[i].name, name) == 0) return i;
    return -1;
}

int pd_cfg_key_index(const char *section, const char *name) {
    for (int i = 0; i < pd_cfg_n_keys; i++)
        if (strcmp(pd_cfg_keys[i].section, section) == 0 && strcmp(pd_cfg_keys[i].name, name) == 0)
            return i;
    return -1;
}

void pd_cfg_section_list(char *out, size_t cap) {
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < pd_cfg_n_sections && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", pd_cfg_sections[i].name);
}
