/* One epoch of mini-batch SGD for K 784-l-10 networks in one launch: the engine's CUDA kernel.
 *
 * Thread block k trains network k through the whole epoch, mini-batch after mini-batch, with
 * the arithmetic of ../native/epoch.c, which is Engine.step's (mnist_mlp/engine/stacked.py),
 * in the textbook's notation (Nielsen, ch. 2), for every sample x of a mini-batch of m:
 *
 *     z¹ = W¹x + b¹,   a¹ = φ(z¹),   z² = W²a¹ + b²,   F = ψ(z²)            (forward pass)
 *     δ² = J_ψᵀ ∂ℓ/∂F                       (BP1; δ² = F − y for the matched pairs, and
 *                                            the log-odds form for a softmax and (35))
 *     δ¹ = (W²ᵀ δ²) ⊙ φ'(z¹)                (BP2)
 *
 * and then the chapter's update θ ← θ − η ∂L/∂θ, L the mini-batch mean, with the weights the
 * mini-batch saw:
 *
 *     b ← b − (η/m) Σ_x δ                    (BP3)
 *     W ← W − (η/m) Σ_x δ aᵀ                 (BP4, a the layer's input: x or a¹)
 *
 * How the block shares the work:
 *  - each step is a few phases; in a phase the block's threads share out its items (a sample
 *    and a hidden unit, say), each item computed whole by one thread; a barrier between phases;
 *  - nothing a thread computes outlives its phase in a register: what the next phase needs is
 *    in shared memory. So the same source builds for the host (tests/fused_host.py): there
 *    a phase is a loop over the block's threads, and a barrier is nothing;
 *  - W¹ is kept pixel-major, w1t[p·l + j] = W¹_jp, so that one pixel's weights are contiguous:
 *    in shared memory where it fits (784·l floats, 94 KB at l = 30, beside the rest; the limit
 *    is the block's opt-in shared memory, 227 KB on an H100 or H200: l ≤ 71 for m = 10), else
 *    in a global workspace of the block's own, read through L1 and L2 (313 KB at l = 100) —
 *    there the latency and bandwidth of those caches bound each step;
 *  - a sample x is read as its non-zero pixels (its sparse row, as in epoch.c): a zero pixel
 *    adds nothing to W¹x and receives no update (an MNIST digit has about 150 of 784);
 *  - W¹ is updated digit by digit: the items of one digit, (pixel, unit), touch distinct
 *    weights, so no two threads write one weight and no atomics are needed; two digits that
 *    share a pixel are a barrier apart.
 * One block per network: K = 1 runs on one multiprocessor, and a step's dependent phases, not
 * arithmetic, set its pace.
 *
 * float only: float64 keeps the tensor-operation path.
 */
#ifdef __CUDACC__
#define DEVICE static __device__ __forceinline__
#define HOST_AND_DEVICE __host__ __device__
/* __launch_bounds__: blocks of up to 256 threads, two of them on a multiprocessor at once (at
 * l = 30 their shared memory fills an H100's or H200's), so at most 128 registers a thread */
#define MAX_THREADS 256
#define MIN_BLOCKS 2
/* one thread's part of a phase, and the barrier that ends the phase */
#define EACH_THREAD(t) for (int t = (int)threadIdx.x, once_ = 1; once_; once_ = 0)
#define BARRIER() __syncthreads()
#define THREADS ((int)blockDim.x)
#else
#include <math.h>
#include <stdlib.h>
#define DEVICE static inline
#define HOST_AND_DEVICE
/* the host build: a block is a loop over its threads, in order or (to expose a phase that
 * reads what another thread of the same phase writes) in reverse */
struct host_block { int block, threads, reverse; };
#define EACH_THREAD(t)                                                                         \
    for (int i_ = 0, t = 0; i_ < host->threads                                                 \
         && ((t = host->reverse ? host->threads - 1 - i_ : i_), 1); i_++)
#define BARRIER() ((void)0)
#define THREADS (host->threads)
#endif

typedef long long i64;
typedef int i32;
#define CLASSES 10
#define PIXELS 784

/* The enums of the activations and losses: ../native/kinds.h, epoch.c's. Their tables of names
 * are the host build's only (a CUDA module has no host tables): the Python caller reads them
 * from that file, and a test checks that the host build's agree and name every activation and
 * loss of the package. */
#include "kinds.h"

/* Everything an epoch of K networks needs, one FIELD(type, name) a line; network k's slices
 * start at k times their size. The struct is declared from this list, and the Python caller
 * (source.py) reads the same lines to build the same struct with ctypes, whose layout it checks
 * (args_layout) on the host and on the device. */
#define FUSED_ARGS(FIELD)                                                                      \
    FIELD(i64, n)                 /* images visited */                                       \
    FIELD(i64, l)                 /* hidden units */                                         \
    FIELD(i64, m)                 /* mini-batch size */                                      \
    FIELD(i64, k)                 /* networks */                                             \
    FIELD(const i64 *, row_start) /* image i: pixels pixel[row_start[i]..row_start[i+1]) */  \
    FIELD(const i32 *, pixel)     /*   (its non-zero pixels)… */                             \
    FIELD(const float *, value)   /*   …and their values */                                  \
    FIELD(const float *, targets) /* (N, 10): the target y of each image */                  \
    FIELD(const i32 *, order)     /* (K, n): each network's images in visit order */         \
    FIELD(const float *, lr)      /* (K): each network's η */                                \
    FIELD(float *, W1)            /* (K, l, 784), in place, as are… */                       \
    FIELD(float *, b1)            /*   (K, l) */                                             \
    FIELD(float *, W2)            /*   (K, 10, l) */                                         \
    FIELD(float *, b2)            /*   (K, 10) */                                            \
    FIELD(float *, w1t)           /* (K, 784, l): W¹ pixel-major in global memory, or 0 */   \
    FIELD(float *, batch_losses)  /* (K, ⌈n / m⌉): each mini-batch's mean loss (before it) */ \
    FIELD(i32, hidden)            /* the enums above */                                      \
    FIELD(i32, output)                                                                       \
    FIELD(i32, loss)                                                                         \
    FIELD(i32, matched)           /* δ² = F − y (the output and loss are a matched pair) */

#define DECLARE(type, name) type name;
struct fused_args { FUSED_ARGS(DECLARE) };

/* The offsets of struct fused_args's fields, in order, and its size last. */
#define OFFSET(type, name) (i64)((const char *)&s.name - (const char *)&s),
static HOST_AND_DEVICE void fused_args_layout(i64 *out) {
    struct fused_args s;
    const i64 layout[] = {FUSED_ARGS(OFFSET) (i64)sizeof s};
    for (int f = 0; f < (int)(sizeof layout / sizeof layout[0]); f++) out[f] = layout[f];
}

/* One network's state in the block's shared memory (w1t possibly in global memory). */
struct net {
    int l;                        /* hidden units */
    float *w1t, *b1, *w2, *b2;    /* (784, l) pixel-major, (l), (10, l), (10) */
    float *a1, *d1;               /* a¹ and (η/m) δ¹ of each sample of the mini-batch (m, l) */
    float *out, *d2;              /* z², then F, and (η/m) δ² of each sample (m, 10) */
    float *loss;                  /* ℓ of each sample (m) */
};

/* The block's shared memory cut into its parts: W¹ (when there), b¹, W², b², a¹, δ¹, F, δ², ℓ
 * (as many floats as shared_floats, below, and the Python caller's, count). */
DEVICE struct net carve(float *shared, int l, int m, float *w1t_global) {
    struct net s;
    float *p = shared;
    s.l = l;
    if (w1t_global) {
        s.w1t = w1t_global;
    } else {
        s.w1t = p;
        p += PIXELS * l;
    }
    s.b1 = p, p += l;
    s.w2 = p, p += CLASSES * l;
    s.b2 = p, p += CLASSES;
    s.a1 = p, p += m * l;
    s.d1 = p, p += m * l;
    s.out = p, p += m * CLASSES;
    s.d2 = p, p += m * CLASSES;
    s.loss = p;
    return s;
}

/* The activations, losses and (BP1) of one sample: ../native/per_sample.h, epoch.c's, in float
 * (NVRTC gets it by name from the Python caller; the host build, from the include path). ln is
 * clamped at −100 in log space by the cross-entropy of a softmax output:
 * mnist_mlp.textbook.losses.LOG_FLOOR. */
#define REAL float
#define EXP expf
#define LOG logf
#define TANH tanhf
#define FABS fabsf
#define LOG_FLOOR (-100.0f)
#ifdef __CUDACC__
#define INFINITY __int_as_float(0x7f800000)  /* <math.h>'s, which NVRTC has not */
#endif
#include "per_sample.h"
#include "phases.h"

/* The kernel: block k trains network k for the epoch (its signature and shared memory are the
 * only lines that differ between the builds). */
#ifdef __CUDACC__
extern "C" __global__ void __launch_bounds__(MAX_THREADS, MIN_BLOCKS)
train_epochs(const struct fused_args a) {
    extern __shared__ float shared[];
    const i64 k = blockIdx.x;
#else
static void train_block(const struct fused_args a, float *shared, const struct host_block *host) {
    const i64 k = host->block;
#endif
    const i64 steps = (a.n + a.m - 1) / a.m;
    const i32 *const order = a.order + k * a.n;
    float *const losses = a.batch_losses + k * steps;
    const struct net s = carve(shared, (int)a.l, (int)a.m, a.w1t ? a.w1t + k * PIXELS * a.l : 0);
    EACH_THREAD(t) load_network(&s, &a, k, t, THREADS);
    BARRIER();
    for (i64 start = 0; start < a.n; start += a.m) {
        const int size = (int)(a.n - start < a.m ? a.n - start : a.m);
        const float step = a.lr[k] / (float)size;  /* η/m: the mini-batch mean, and the step */
        EACH_THREAD(t) hidden_forward_phase(&s, &a, order + start, size, t, THREADS);
        BARRIER();
        EACH_THREAD(t) output_forward_phase(&s, size, t, THREADS);
        BARRIER();
        EACH_THREAD(t) output_error_phase(&s, &a, order + start, size, step, t, THREADS);
        BARRIER();
        EACH_THREAD(t) hidden_error_phase(&s, &a, size, losses + start / a.m, t, THREADS);
        BARRIER();
        for (int b = 0; b < size; b++) {  /* (BP3), (BP4), W¹ digit by digit */
            EACH_THREAD(t) {
                if (b == 0) update_output_phase(&s, size, t, THREADS);
                update_hidden_phase(&s, &a, order[start + b], b, t, THREADS);
            }
            BARRIER();
        }
    }
    EACH_THREAD(t) store_network(&s, &a, k, t, THREADS);
}

#ifdef __CUDACC__
/* The layout of struct fused_args as the device compiler sees it (one thread). */
extern "C" __global__ void args_layout(i64 *out) { fused_args_layout(out); }
#else
/* Floats of shared memory a block needs (carve's parts). */
i64 shared_floats(i64 l, i64 m, int w1_shared) {
    return (w1_shared ? PIXELS * l : 0) + l + CLASSES * l + CLASSES + 2 * m * l
           + 2 * m * CLASSES + m;
}

/* The host build's entry points, for the tests: every block of the launch, one after another,
 * with `threads` threads each (in reverse order when `reverse`). Returns 0, or −1 when memory
 * for a block's shared memory could not be allocated. */
int run_blocks(const struct fused_args *a, int threads, int reverse) {
    float *shared = (float *)malloc(sizeof(float) * shared_floats(a->l, a->m, !a->w1t));
    if (!shared) return -1;
    for (int block = 0; block < a->k; block++) {
        const struct host_block host = {block, threads, reverse};
        train_block(*a, shared, &host);
    }
    free(shared);
    return 0;
}

void args_layout(i64 *out) { fused_args_layout(out); }
#endif
