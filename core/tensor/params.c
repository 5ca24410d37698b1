/* The parameter store: owns parameter tensors, their data and gradients. */
#include <stdlib.h>
#include <string.h>

#include "pixeldit/limits.h"
#include "pixeldit/params.h"

typedef struct {
    pd_tensor t;
    unsigned flags;
} pd_param;

/* Names are found through an open-addressing hash table of item indices
 * (slot -1 = empty, at most half full), so building a model of any depth and
 * loading a checkpoint stay linear in the parameter count. */
struct pd_params {
    pd_param **items;
    int n, cap;
    int *slots;
    size_t n_slots; /* a power of two, >= 2 * cap */
};

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t find_slot(const pd_params *p, const char *name) {
    size_t mask = p->n_slots - 1, i = (size_t)name_hash(name) & mask;
    while (p->slots[i] >= 0 && strcmp(p->items[p->slots[i]]->t.name, name) != 0) i = (i + 1) & mask;
    return i;
}

/* Grows items and the table together; false when out of memory. */
static bool grow(pd_params *p) {
    int cap = p->cap ? p->cap * 2 : 64;
    pd_param **items = realloc(p->items, (size_t)cap * sizeof *items);
    if (!items) return false;
    p->items = items;
    size_t n_slots = (size_t)cap * 2;
    int *slots = malloc(n_slots * sizeof *slots);
    if (!slots) return false;
    free(p->slots);
    p->slots = slots;
    p->n_slots = n_slots;
    p->cap = cap;
    memset(slots, 0xff, n_slots * sizeof *slots);
    for (int i = 0; i < p->n; i++) slots[find_slot(p, items[i]->t.name)] = i;
    return true;
}

pd_params *pd_params_new(void) {
    pd_params *p = calloc(1, sizeof *p);
    if (!p) pd_fail(PD_ERR_NOMEM, "params: out of memory");
    return p;
}

void pd_params_free(pd_params *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        pd_param *q = p->items[i];
        q->t.magic = PD_TENSOR_DEAD;
        free(q->t.data);
        free(q->t.grad);
        free((char *)q->t.name);
        free(q);
    }
    free(p->items);
    free(p->slots);
    free(p);
}

/* Names are dotted identifiers: letters, digits, '_' and '.', as in a
 * PyTorch state_dict. */
static bool name_ok(const char *s) {
    if (!s || !*s || strlen(s) > 200) return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_' || *c == '.'))
            return false;
    return true;
}

pd_tensor *pd_params_add(pd_params *p, const char *name, const int *shape, int ndim,
                         unsigned flags) {
    if (!p) {
        pd_fail(PD_ERR_ARG, "params_add: store is NULL");
        return NULL;
    }
    if (!name_ok(name)) {
        pd_fail(PD_ERR_ARG, "params_add: invalid name '%s' (use letters, digits, '_', '.')",
                name ? name : "(null)");
        return NULL;
    }
    if (pd_params_find(p, name)) {
        pd_fail(PD_ERR_ARG, "params_add: duplicate parameter name '%s'", name);
        return NULL;
    }
    if (ndim < 1 || ndim > PD_MAX_DIMS) {
        pd_fail(PD_ERR_SHAPE, "params_add: '%s' has rank %d, expected 1..%d", name, ndim,
                PD_MAX_DIMS);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) {
            pd_fail(PD_ERR_SHAPE, "params_add: '%s' dim %d is %d", name, i, shape[i]);
            return NULL;
        }
    if (p->n == PD_MAX_PARAM_TENSORS) {
        pd_fail(PD_ERR_ARG, "params_add: more than %d parameter tensors", PD_MAX_PARAM_TENSORS);
        return NULL;
    }
    if (p->n == p->cap && !grow(p)) goto nomem;
    pd_param *q = calloc(1, sizeof *q);
    if (!q) goto nomem;
    pd_tensor *t = &q->t;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (numel > PD_MAX_PARAMS / shape[i]) {
            free(q);
            pd_fail(PD_ERR_SHAPE, "params_add: '%s' has more than %lld elements", name,
                    (long long)PD_MAX_PARAMS);
            return NULL;
        }
        numel *= shape[i];
    }
    t->numel = (size_t)numel;
    t->data = calloc(t->numel, sizeof(float));
    t->name = strdup(name);
    t->magic = PD_TENSOR_MAGIC;
    t->flags = PD_TF_PARAM;
    if (flags & PD_PARAM_FROZEN) {
        t->flags |= PD_TF_FROZEN;
    } else {
        t->flags |= PD_TF_REQUIRES_GRAD;
        t->grad = calloc(t->numel, sizeof(float));
    }
    if (!t->data || !t->name || (!(flags & PD_PARAM_FROZEN) && !t->grad)) {
        free(t->data);
        free(t->grad);
        free((char *)t->name);
        free(q);
        goto nomem;
    }
    q->flags = flags;
    p->slots[find_slot(p, name)] = p->n;
    p->items[p->n++] = q;
    return t;
nomem:
    pd_fail(PD_ERR_NOMEM, "params_add: out of memory for '%s'", name);
    return NULL;
}

int pd_params_count(const pd_params *p) { return p ? p->n : 0; }

pd_tensor *pd_params_at(const pd_params *p, int i) {
    return (p && i >= 0 && i < p->n) ? &p->items[i]->t : NULL;
}

unsigned pd_params_flags_at(const pd_params *p, int i) {
    return (p && i >= 0 && i < p->n) ? p->items[i]->flags : 0;
}

pd_tensor *pd_params_find(const pd_params *p, const char *name) {
    if (!p || !name || !p->n_slots) return NULL;
    int i = p->slots[find_slot(p, name)];
    return i >= 0 ? &p->items[i]->t : NULL;
}

size_t pd_params_numel(const pd_params *p, bool trainable_only) {
    size_t n = 0;
    for (int i = 0; p && i < p->n; i++)
        if (!trainable_only || !(p->items[i]->flags & PD_PARAM_FROZEN)) n += p->items[i]->t.numel;
    return n;
}

void pd_params_zero_grad(pd_params *p) {
    for (int i = 0; p && i < p->n; i++)
        if (p->items[i]->t.grad) memset(p->items[i]->t.grad, 0, p->items[i]->t.numel * sizeof(float));
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

bool pd_params_decays(const pd_params *p, int i) {
    if (!p || i < 0 || i >= p->n) return false;
    const pd_param *q = p->items[i];
    if (q->flags & (PD_PARAM_FROZEN | PD_PARAM_NO_DECAY)) return false;
    if (q->t.ndim < 2) return false;
    return !ends_with(q->t.name, ".bias");
}
