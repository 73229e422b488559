/* One epoch of mini-batch SGD for one 784-l-10 network: the fast engine's CPU loop.
 *
 * The same arithmetic as mnist_mlp/engine/stacked.py (Engine.step) and
 * mnist_mlp/textbook/backprop.py, in the textbook's notation (Nielsen, ch. 2), for every sample
 * x of a mini-batch of m:
 *
 *     z¹ = W¹x + b¹,   a¹ = φ(z¹),   z² = W²a¹ + b²,   F = ψ(z²)            (forward pass)
 *     δ² = J_ψᵀ ∂ℓ/∂F                       (BP1; δ² = F − y for the matched pairs, and
 *                                            the fused form for a softmax and (35))
 *     δ¹ = (W²ᵀ δ²) ⊙ φ'(z¹)                (BP2)
 *
 * and then, with the weights the mini-batch saw,
 *
 *     b ← b − (η/m) Σ_x δ                    (BP3)
 *     W ← W − (η/m) Σ_x δ aᵀ                 (BP4, a the layer's input: x or a¹)
 *
 * What makes it fast changes no number (only the order of some sums):
 *  - the whole epoch is one call: no per-step overhead;
 *  - x is read as the list of its non-zero pixels (a sparse row), since a zero pixel adds
 *    nothing to W¹x and receives no update (an MNIST digit has about 150 of 784);
 *  - during the epoch W¹ is kept transposed, w1t[p][j] = W¹_jp, so that one pixel's weights
 *    are contiguous, and every row of hidden-unit values is padded with zeros to `ld`, a
 *    multiple of BLOCK, so that sums over hidden units run BLOCK at a time in registers.
 *    A padded unit has zero weights, zero activation and zero error, so it stays zero.
 *
 * The loss of each mini-batch (its mean over the samples, before the step) is summed up as the
 * epoch runs, so nothing of the size of the data is kept. `evaluate` is the forward pass alone,
 * over every image of a split in turn: the loss summed over the images and each prediction.
 *
 * REAL is float or double (the library is compiled once for each).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <tgmath.h>

#ifndef REAL
#define REAL double
#endif
#define CLASSES 10
#define PIXELS 784
#define BLOCK (64 / (int)sizeof(REAL))  /* hidden units summed at once: 16 floats, 8 doubles */

/* The enums of the activations and losses, and their tables of names, which the Python caller
 * reads from this library: kinds.h, shared with the CUDA kernel. */
#include "kinds.h"

/* ln is clamped at −100 in log space by the cross-entropy of a softmax output:
 * mnist_mlp.textbook.losses.LOG_FLOOR (a test reads it here). */
const double LOG_FLOOR = -100;

/* The arguments of train_epoch and of evaluate, each struct one list of fields, FIELD(type,
 * name) a line: the structs are declared from these lists below, and the Python caller
 * (build.py) reads the same lines to build the same structs with ctypes, whose layout it checks
 * against args_layout before the first call. */

/* Everything one epoch of one network needs. */
#define EPOCH_ARGS(FIELD)                                                                      \
    FIELD(int64_t, n)                 /* images visited */                                   \
    FIELD(int64_t, l)                 /* hidden units */                                     \
    FIELD(int64_t, m)                 /* mini-batch size */                                  \
    FIELD(const int64_t *, row_start) /* image i: pixels pixel[row_start[i]..row_start[i+1]) */\
    FIELD(const int32_t *, pixel)     /*   (its non-zero pixels)… */                         \
    FIELD(const REAL *, value)        /*   …and their values */                              \
    FIELD(const REAL *, targets)      /* (N, 10): the target y of each image */              \
    FIELD(const int64_t *, order)     /* (n): the images in visit order */                   \
    FIELD(REAL, lr)                   /* η */                                                \
    FIELD(int32_t, hidden)            /* the enums above */                                  \
    FIELD(int32_t, output)                                                                   \
    FIELD(int32_t, loss)                                                                     \
    FIELD(int32_t, matched)           /* δ² = F − y (a matched output and loss) */           \
    FIELD(REAL *, W1)                 /* (l, 784), updated in place, as are… */              \
    FIELD(REAL *, b1)                 /*   (l) */                                            \
    FIELD(REAL *, W2)                 /*   (10, l) */                                        \
    FIELD(REAL *, b2)                 /*   (10) */                                           \
    FIELD(REAL *, batch_losses)       /* (⌈n / m⌉): each mini-batch's mean loss, before its step */

/* Everything the evaluation of one network on one split needs. */
#define EVAL_ARGS(FIELD)                                                                       \
    FIELD(int64_t, n)                 /* images (all, in order) */                           \
    FIELD(int64_t, l)                 /* hidden units */                                     \
    FIELD(const int64_t *, row_start) /* the images as sparse rows, as in struct epoch_args */\
    FIELD(const int32_t *, pixel)                                                            \
    FIELD(const REAL *, value)                                                               \
    FIELD(int32_t, hidden)            /* the enums above */                                  \
    FIELD(int32_t, output)                                                                   \
    FIELD(int32_t, loss)                                                                     \
    FIELD(const REAL *, W1)                                                                  \
    FIELD(const REAL *, b1)                                                                  \
    FIELD(const REAL *, W2)                                                                  \
    FIELD(const REAL *, b2)                                                                  \
    FIELD(const int64_t *, labels)    /* (n): each image's digit; its target y is one-hot */ \
    FIELD(double *, loss_sum)         /* out: the loss summed over the n images */           \
    FIELD(int64_t *, confusion)       /* out (10, 10): rows the digit, columns the prediction */

#define DECLARE(type, name) type name;
struct epoch_args { EPOCH_ARGS(DECLARE) };
struct eval_args { EVAL_ARGS(DECLARE) };

#define EPOCH_OFFSET(type, name) offsetof(struct epoch_args, name),
#define EVAL_OFFSET(type, name) offsetof(struct eval_args, name),
/* The offsets of the fields of struct epoch_args (which = 0) or struct eval_args (which = 1), in
 * order, into offsets[0..count); returns the struct's size, or −1 when it does not have `count`
 * fields. */
int64_t args_layout(int which, int64_t *offsets, int64_t count) {
    const size_t epoch[] = {EPOCH_ARGS(EPOCH_OFFSET)}, eval[] = {EVAL_ARGS(EVAL_OFFSET)};
    const size_t *fields = which ? eval : epoch;
    const int64_t n = which ? (int64_t)(sizeof eval / sizeof eval[0])
                            : (int64_t)(sizeof epoch / sizeof epoch[0]);
    for (int64_t k = 0; k < n && k < count; k++) offsets[k] = fields[k];
    if (count != n) return -1;
    return which ? (int64_t)sizeof(struct eval_args) : (int64_t)sizeof(struct epoch_args);
}

/* The activations, losses and (BP1) of one sample: per_sample.h, shared with the CUDA kernel,
 * its math <tgmath.h>'s (expf, logf, … for float; exp, log, … for double). */
#define DEVICE static
#define EXP exp
#define LOG log
#define TANH tanh
#define FABS fabs
#include "per_sample.h"

/* BLOCK hidden units as one value: GCC/Clang vector extensions, one or a few registers. */
typedef REAL block __attribute__((vector_size(BLOCK * sizeof(REAL))));
#define AT(p) (*(const block *)(p))  /* the BLOCK units starting at p (aligned) */

/* W¹x for the sparse row x (pixels pixel[r0..r1), values value[…]), into z (ld units).
 * Each block of units is summed in registers, over even and odd pixels separately; two blocks
 * share one pass over the pixels (four independent sums: an addition need not wait for the
 * one before it), which changes no unit's order of additions. */
static void hidden_weighted_input(const REAL *restrict w1t, int64_t ld,
                                  const int32_t *restrict pixel, const REAL *restrict value,
                                  int64_t r0, int64_t r1, REAL *restrict z) {
    int64_t j0 = 0;
    for (; j0 + BLOCK < ld; j0 += 2 * BLOCK) {
        block even = {0}, odd = {0}, even2 = {0}, odd2 = {0};
        int64_t r = r0;
        for (; r + 1 < r1; r += 2) {
            const REAL *w = w1t + pixel[r] * ld + j0, *v = w1t + pixel[r + 1] * ld + j0;
            even += value[r] * AT(w), even2 += value[r] * AT(w + BLOCK);
            odd += value[r + 1] * AT(v), odd2 += value[r + 1] * AT(v + BLOCK);
        }
        if (r < r1) {
            even += value[r] * AT(w1t + pixel[r] * ld + j0);
            even2 += value[r] * AT(w1t + pixel[r] * ld + j0 + BLOCK);
        }
        *(block *)(z + j0) = even + odd, *(block *)(z + j0 + BLOCK) = even2 + odd2;
    }
    for (; j0 < ld; j0 += BLOCK) {
        block even = {0}, odd = {0};
        int64_t r = r0;
        for (; r + 1 < r1; r += 2) {
            even += value[r] * AT(w1t + pixel[r] * ld + j0);
            odd += value[r + 1] * AT(w1t + pixel[r + 1] * ld + j0);
        }
        if (r < r1) even += value[r] * AT(w1t + pixel[r] * ld + j0);
        *(block *)(z + j0) = even + odd;
    }
}

/* w · h over ld units, BLOCK partial sums at a time. */
static REAL dot(const REAL *restrict w, const REAL *restrict h, int64_t ld) {
    block part = {0};
    REAL sum = 0;
    for (int64_t j0 = 0; j0 < ld; j0 += BLOCK) part += AT(w + j0) * AT(h + j0);
    for (int jj = 0; jj < BLOCK; jj++) sum += part[jj];
    return sum;
}

/* A network's weights as the loops read them: W¹ transposed, w1t[p][j] = W¹_jp, and every row
 * of hidden units padded with zeros to ld, a multiple of BLOCK; in one 64-aligned allocation
 * that also holds `extra` more numbers of scratch, after them (zeros). */
struct unpacked {
    int64_t l, ld;
    REAL *w1t, *bias1, *w2, *extra;
};

static int unpack(const REAL *W1, const REAL *b1, const REAL *W2, int64_t l, size_t extra,
                  struct unpacked *u) {
    const int64_t ld = (l + BLOCK - 1) / BLOCK * BLOCK;
    const size_t count = (size_t)(PIXELS + 1 + CLASSES) * ld + extra;
    REAL *scratch = aligned_alloc(64, (count * sizeof(REAL) + 63) / 64 * 64);
    if (!scratch) return -1;
    for (size_t k = 0; k < count; k++) scratch[k] = 0;
    u->l = l, u->ld = ld, u->w1t = scratch, u->bias1 = scratch + PIXELS * ld;
    u->w2 = u->bias1 + ld, u->extra = u->w2 + CLASSES * ld;
    for (int64_t j = 0; j < l; j++) {
        u->bias1[j] = b1[j];
        for (int p = 0; p < PIXELS; p++) u->w1t[p * ld + j] = W1[j * PIXELS + p];
        for (int c = 0; c < CLASSES; c++) u->w2[c * ld + j] = W2[c * l + j];
    }
    return 0;
}

/* The trained weights back in the caller's layout; the scratch freed. */
static void pack(struct unpacked *u, REAL *W1, REAL *b1, REAL *W2) {
    for (int64_t j = 0; j < u->l; j++) {
        b1[j] = u->bias1[j];
        for (int p = 0; p < PIXELS; p++) W1[j * PIXELS + p] = u->w1t[p * u->ld + j];
        for (int c = 0; c < CLASSES; c++) W2[c * u->l + j] = u->w2[c * u->ld + j];
    }
    free(u->w1t);
}

/* The forward pass of image i: h = a¹ = φ(W¹x + b¹) (ld units), z2 = W²a¹ + b², F = ψ(z²). */
static void forward_layers(const struct unpacked *u, int hidden, int output, const REAL *b2,
                           const int64_t *restrict row_start, const int32_t *restrict pixel,
                           const REAL *restrict value, int64_t i, REAL *restrict h,
                           REAL *restrict z2, REAL *restrict F) {
    hidden_weighted_input(u->w1t, u->ld, pixel, value, row_start[i], row_start[i + 1], h);
    for (int64_t j = 0; j < u->l; j++) h[j] = hidden_forward(hidden, h[j] + u->bias1[j]);
    for (int c = 0; c < CLASSES; c++) z2[c] = dot(u->w2 + c * u->ld, h, u->ld) + b2[c];
    output_forward(output, z2, F);
}

/* The forward pass of image i: h and F. */
static void forward(const struct unpacked *u, int hidden, int output, const REAL *b2,
                    const int64_t *restrict row_start, const int32_t *restrict pixel,
                    const REAL *restrict value, int64_t i, REAL *restrict h, REAL *restrict F) {
    REAL z2[CLASSES];
    forward_layers(u, hidden, output, b2, row_start, pixel, value, i, h, z2, F);
}

/* (BP2) for one sample: d1 = (W²ᵀ d2) ⊙ φ'(z¹), with h = a¹. */
static void hidden_error(const struct unpacked *u, int hidden, const REAL *restrict h,
                         const REAL *restrict d2, REAL *restrict d1) {
    for (int64_t j = 0; j < u->ld; j++) d1[j] = 0;
    for (int c = 0; c < CLASSES; c++)
        for (int64_t j = 0; j < u->ld; j++) d1[j] += u->w2[c * u->ld + j] * d2[c];
    for (int64_t j = 0; j < u->l; j++) d1[j] *= hidden_derivative(hidden, h[j]);
}

/* (BP3), (BP4) of one mini-batch of `size` samples (a1, delta1: (size, ld), delta2: (size, 10),
 * each δ already times η/m), the samples being images order[0..size). */
static void update(struct unpacked *u, REAL *restrict b2, int64_t size, const REAL *a1,
                   const REAL *delta1, const REAL *delta2, const int64_t *order,
                   const int64_t *restrict row_start, const int32_t *restrict pixel,
                   const REAL *restrict value) {
    const int64_t ld = u->ld;
    for (int c = 0; c < CLASSES; c++) {          /* the output layer */
        REAL bias = 0;
        for (int64_t b = 0; b < size; b++) bias += delta2[b * CLASSES + c];
        b2[c] -= bias;                            /* b² ← b² − Σ δ² */
        for (int64_t b = 0; b < size; b++) {      /* W² ← W² − Σ δ² a¹ᵀ */
            const REAL d = delta2[b * CLASSES + c], *h = a1 + b * ld;
            REAL *w = u->w2 + c * ld;
            for (int64_t j = 0; j < ld; j++) w[j] -= d * h[j];
        }
    }
    for (int64_t b = 0; b < size; b++) {         /* the hidden layer */
        const int64_t i = order[b];
        const REAL *d1 = delta1 + b * ld;
        for (int64_t j = 0; j < ld; j++) u->bias1[j] -= d1[j];   /* b¹ ← b¹ − Σ δ¹ */
        for (int64_t r = row_start[i]; r < row_start[i + 1]; r++) {
            const REAL x = value[r];             /* W¹ ← W¹ − Σ δ¹ xᵀ, non-zero x only */
            REAL *w = u->w1t + pixel[r] * ld;
            for (int64_t j = 0; j < ld; j++) w[j] -= x * d1[j];
        }
    }
}

/* One epoch of the network a->W1 (l, 784), b1 (l), W2 (10, l), b2 (10), updated in place, over
 * the n images visited in a->order, in mini-batches of m (the last one smaller if m does not
 * divide n). The mean loss of each mini-batch, before its step, is written to a->batch_losses.
 * Returns 0, or −1 when scratch memory could not be allocated. */
int train_epoch(const struct epoch_args *a) {
    const int64_t n = a->n, m = a->m;
    struct unpacked u;
    const int64_t ld = (a->l + BLOCK - 1) / BLOCK * BLOCK;
    if (unpack(a->W1, a->b1, a->W2, a->l, (size_t)2 * m * ld + m * CLASSES, &u)) return -1;
    REAL *a1 = u.extra;                  /* a¹ of each sample of the mini-batch (m, ld) */
    REAL *delta1 = a1 + m * ld;          /* (η/m) δ¹ (m, ld) */
    REAL *delta2 = delta1 + m * ld;      /* (η/m) δ² (m, 10) */
    for (int64_t start = 0; start < n; start += m) {
        const int64_t size = n - start < m ? n - start : m;
        const REAL step = a->lr / size;  /* η/m: the mini-batch mean, and the step size */
        REAL loss = 0;
        for (int64_t b = 0; b < size; b++) {
            const int64_t i = a->order[start + b];
            const REAL *y = a->targets + i * CLASSES;
            REAL *h = a1 + b * ld, *d2 = delta2 + b * CLASSES, z2[CLASSES], F[CLASSES];
            forward_layers(&u, a->hidden, a->output, a->b2, a->row_start, a->pixel, a->value, i,
                           h, z2, F);
            loss += sample_loss(a->loss, z2, F, y);
            output_error(a->output, a->loss, a->matched, z2, F, y, d2);  /* (BP1) */
            for (int c = 0; c < CLASSES; c++) d2[c] *= step;
            hidden_error(&u, a->hidden, h, d2, delta1 + b * ld);                    /* (BP2) */
        }
        a->batch_losses[start / m] = loss / size;
        update(&u, a->b2, size, a1, delta1, delta2, a->order + start, a->row_start, a->pixel,
               a->value);                                                    /* (BP3), (BP4) */
    }
    pack(&u, a->W1, a->b1, a->W2);
    return 0;
}

/* ---- The evaluation: the forward pass alone, in faster arithmetic than the training's ----
 *
 * What is evaluated after every epoch is each split's loss and confusion matrix, not weights:
 * here the forward pass may round otherwise than the training's (which keeps libm's exp and its
 * sums, so its weights stay those of every earlier version). The evaluation differs from the
 * dense one (Engine.dense_evaluate) by rounding only: an image whose two largest outputs are
 * within a rounding of each other may change its predicted class. */

/* σ of BLOCK units at once, exp computed in vector registers (Cephes' exp, an ulp or two from
 * libm's: a polynomial in float, a rational function in double, times 2ⁿ made from its bits). */
#define float_IS_FLOAT 1
#define double_IS_FLOAT 0
#define PASTE(a, b) a##b
#define IS_FLOAT(real) PASTE(real, _IS_FLOAT)
#if IS_FLOAT(REAL)
typedef int32_t iblock __attribute__((vector_size(BLOCK * sizeof(REAL))));
#define EXP_LIMIT 88.0f /* exp(±88) is a normal float: σ(∓88) is as exact as σ needs */
#define EXP_BIAS 127
#define EXP_SHIFT 23
#else
typedef int64_t iblock __attribute__((vector_size(BLOCK * sizeof(REAL))));
#define EXP_LIMIT 708.0
#define EXP_BIAS 1023
#define EXP_SHIFT 52
#endif

/* where ``mask``, ``a``, else ``b`` (C has no ?: for vectors; a NaN stays a NaN) */
static inline block pick(iblock mask, block a, block b) {
    return (block)((mask & (iblock)a) | (~mask & (iblock)b));
}

static inline block exp_block(block x) {
    const block limit = (block){0} + EXP_LIMIT;
    x = pick(x > limit, limit, x);
    x = pick(x < -limit, -limit, x);
    const block t = x * (REAL)1.44269504088896341 + (REAL)0.5;
    iblock n = __builtin_convertvector(t, iblock);
    n += __builtin_convertvector(n, block) > t; /* −1 where the conversion rounded up: ⌊t⌋ */
    const block k = __builtin_convertvector(n, block);
#if IS_FLOAT(REAL)
    const block r = x - k * 0.693359375f + k * 2.12194440e-4f; /* x − k ln 2, in two parts */
    block p = 1.9875691500E-4f * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    const block e = p * r * r + r + 1.0f;
#else
    const block r = x - k * 6.93145751953125E-1 - k * 1.42860682030941723212E-6;
    const block rr = r * r;
    const block px = r * ((1.26177193074810590878E-4 * rr + 3.02994407707441961300E-2) * rr
                          + 9.99999999999999999910E-1);
    const block qx = ((3.00198505138664455042E-6 * rr + 2.52448340349684104192E-3) * rr
                      + 2.27265548208155028766E-1) * rr + 2.00000000000000000009E0;
    const block e = 1.0 + 2.0 * px / (qx - px);
#endif
    return e * (block)((n + EXP_BIAS) << EXP_SHIFT); /* 2ⁿ, as the bits of a REAL */
}

/* a¹ = φ(W¹x + b¹) of image i (ld units); the sigmoid BLOCK units at a time by exp_block
 * (padding units too: never read). */
static void eval_hidden(const struct unpacked *u, int hidden, const int64_t *restrict row_start,
                        const int32_t *restrict pixel, const REAL *restrict value, int64_t i,
                        REAL *restrict h) {
    hidden_weighted_input(u->w1t, u->ld, pixel, value, row_start[i], row_start[i + 1], h);
    if (hidden != HIDDEN_SIGMOID) {
        for (int64_t j = 0; j < u->l; j++) h[j] = hidden_forward(hidden, h[j] + u->bias1[j]);
        return;
    }
    for (int64_t j0 = 0; j0 < u->ld; j0 += BLOCK)
        *(block *)(h + j0) = 1 / (1 + exp_block(-(AT(h + j0) + AT(u->bias1 + j0))));
}

/* Ten outputs at once: the columns of W² laid out one per hidden unit (w2t[j] = W²_·j, padded
 * to 16 classes), z² = Σ_j a¹_j w2t[j] + b², summed in one register with no sum across it (the
 * training's `dot` sums each output apart, in another order). */
#define LANES 16
typedef REAL classes __attribute__((vector_size(LANES * sizeof(REAL))));

static void eval_output_input(const REAL *restrict w2t, const REAL *restrict h, int64_t l,
                              const REAL *b2, REAL *restrict z2) {
    classes sum[4] = {{0}};  /* four sums: an addition need not wait for the one before it */
    int64_t j = 0;
    for (; j + 3 < l; j += 4)
        for (int s = 0; s < 4; s++) sum[s] += h[j + s] * *(const classes *)(w2t + (j + s) * LANES);
    for (; j < l; j++) sum[0] += h[j] * *(const classes *)(w2t + j * LANES);
    const classes total = (sum[0] + sum[1]) + (sum[2] + sum[3]);
    for (int c = 0; c < CLASSES; c++) z2[c] = total[c] + b2[c];
}

/* The forward pass of the network a->W1, … over the n images of a split: the loss summed over
 * them (in double) into *a->loss_sum, and the confusion matrix of its predictions (the class of
 * the largest output, the first at a tie) into a->confusion. Returns 0, or −1 when memory could
 * not be allocated. */
int evaluate(const struct eval_args *a) {
    struct unpacked u;
    const int64_t ld = (a->l + BLOCK - 1) / BLOCK * BLOCK;
    if (unpack(a->W1, a->b1, a->W2, a->l, (size_t)ld + LANES * ld, &u)) return -1;
    REAL *h = u.extra, *w2t = u.extra + ld;  /* a¹ (ld), and W² as (ld, 16) */
    for (int64_t j = 0; j < a->l; j++)
        for (int c = 0; c < CLASSES; c++) w2t[j * LANES + c] = a->W2[c * a->l + j];
    double total = 0;
    for (int k = 0; k < CLASSES * CLASSES; k++) a->confusion[k] = 0;
    for (int64_t i = 0; i < a->n; i++) {
        REAL z2[CLASSES], F[CLASSES], y[CLASSES] = {0};
        y[a->labels[i]] = 1;
        eval_hidden(&u, a->hidden, a->row_start, a->pixel, a->value, i, h);
        eval_output_input(w2t, h, a->l, a->b2, z2);
        output_forward(a->output, z2, F);
        total += sample_loss(a->loss, z2, F, y);
        int best = 0;
        for (int c = 1; c < CLASSES; c++) best = F[c] > F[best] ? c : best;
        a->confusion[a->labels[i] * CLASSES + best] += 1;
    }
    *a->loss_sum = total;
    free(u.w1t);
    return 0;
}
