/* The activations and losses of one sample and its output error (BP1), written once for the
 * engine's CPU loop (epoch.c, REAL float or double) and its CUDA kernel (../fused/epoch.cu,
 * float): the numbers of mnist_mlp/textbook (activations.py, losses.py, backprop.py).
 *
 * The file that includes it defines first: REAL; DEVICE, what goes before each function
 * (static in epoch.c; static __device__ in epoch.cu, static inline in its host build); the
 * math functions EXP, LOG, TANH, FABS for REAL (exp, log, … of <tgmath.h> in epoch.c; expf,
 * logf, … in epoch.cu); INFINITY; CLASSES; LOG_FLOOR, the clamp of every logarithm, taken in
 * log space (mnist_mlp.textbook.losses.LOG_FLOOR); and it includes
 * kinds.h, the enums hidden_activation, output_activation and loss these functions switch on.
 */

/* φ(z), and φ'(z) written with a = φ(z): as mnist_mlp/textbook/activations.py. */
DEVICE REAL hidden_forward(int kind, REAL z) {
    switch (kind) {
    case HIDDEN_SIGMOID: return 1 / (1 + EXP(-z));
    case HIDDEN_TANH: return TANH(z);
    default: return z > 0 ? z : 0;
    }
}

DEVICE REAL hidden_derivative(int kind, REAL a) {
    switch (kind) {
    case HIDDEN_SIGMOID: return a * (1 - a);
    case HIDDEN_TANH: return 1 - a * a;
    default: return a > 0;
    }
}

/* F = ψ(z²) over the 10 outputs: sigmoid, or softmax (shifted by max z for safety). */
DEVICE void output_forward(int kind, const REAL *z, REAL *F) {
    if (kind == OUTPUT_SIGMOID) {
        for (int c = 0; c < CLASSES; c++) F[c] = 1 / (1 + EXP(-z[c]));
        return;
    }
    REAL top = z[0], total = 0;
    for (int c = 1; c < CLASSES; c++) top = z[c] > top ? z[c] : top;
    for (int c = 0; c < CLASSES; c++) total += F[c] = EXP(z[c] - top);
    for (int c = 0; c < CLASSES; c++) F[c] /= total;
}

/* max(l, −100): the clamp in log space of mnist_mlp.textbook.losses (OF_Z). −∞ becomes −100;
 * a NaN stays NaN (as torch's clamp keeps it), so that a diverged network's loss says so. */
DEVICE REAL floored(REAL l) { return l < LOG_FLOOR ? (REAL)LOG_FLOOR : l; }

/* max(ln x, −100). */
DEVICE REAL log_clamped(REAL x) { return floored(LOG(x)); }

/* ln F_j of a softmax F = softmax(z): z_j − z_t + ln F_t with t the largest output (F_t ≥ 1/10),
 * so one logarithm, right where F_j is a subnormal float or 0 (log_softmax of the textbook). */
DEVICE REAL log_softmax(const REAL *z, const REAL *F, int j) {
    int t = 0;
    for (int k = 1; k < CLASSES; k++) t = z[k] > z[t] ? k : t;
    return j == t ? LOG(F[t]) : z[j] - z[t] + LOG(F[t]);
}

/* ln σ(z), given F = σ(z) and 1 − F: z + ln(1 − F) for z < 0, where F may have rounded to 0
 * (ln σ(z) = z + ln σ(−z)); else ln F. One logarithm, right where F or 1 − F rounds away. */
DEVICE REAL log_sigmoid(REAL z, REAL F, REAL one_minus_F) {
    return z < 0 ? z + LOG(one_minus_F) : LOG(F);
}

/* Σ_{i≠j} F_i: 1 − F_j of a softmax output, without the cancellation of 1 − F_j at F_j ≈ 1. */
DEVICE REAL others_sum(const REAL *F, int j) {
    REAL sum = 0;
    for (int i = 0; i < CLASSES; i++) sum += i == j ? 0 : F[i];
    return sum;
}

/* ℓ(F, y) of one sample, F = ψ(z): as the losses of mnist_mlp/textbook/losses.py (network_loss).
 * A term whose weight y_c or 1 − y_c is 0 adds nothing and is not computed (one logarithm per
 * sample for the cross-entropy of one-hot targets, not ten). Every logarithm is taken in log
 * space, as the textbook's functions of z in OF_Z: the plain cross-entropy (35) and
 * log-likelihood here have a sigmoid output (of a softmax they are losses of their own). From
 * F alone, those of a softmax are the same numbers but where an output is a subnormal float
 * (below about e^(−87)), whose digits are fewer. */
DEVICE REAL sample_loss(int kind, const REAL *z, const REAL *F, const REAL *y) {
    REAL sum = 0;
    for (int c = 0; c < CLASSES; c++) {
        const REAL d = F[c] - y[c];
        switch (kind) {
        case LOSS_MSE: sum += d * d; break;
        case LOSS_MAE: sum += FABS(d); break;
        case LOSS_BINARY_CROSS_ENTROPY:
            if (y[c] != 0) sum -= y[c] * floored(log_sigmoid(z[c], F[c], 1 - F[c]));
            if (y[c] != 1) sum -= (1 - y[c]) * floored(log_sigmoid(-z[c], 1 - F[c], F[c]));
            break;
        case LOSS_BINARY_CROSS_ENTROPY_OF_SOFTMAX:
            if (y[c] != 0) sum -= y[c] * log_clamped(F[c]);
            if (y[c] != 1) sum -= (1 - y[c]) * log_clamped(others_sum(F, c));
            break;
        case LOSS_LOG_LIKELIHOOD_OF_SOFTMAX:
            if (y[c] != 0) sum -= y[c] * floored(log_softmax(z, F, c));
            break;
        default:
            if (y[c] != 0) sum -= y[c] * floored(log_sigmoid(z[c], F[c], 1 - F[c]));
        }
    }
    return kind == LOSS_MSE || kind == LOSS_MAE ? (REAL)0.5 * sum : sum;
}

/* ∂ℓ/∂F_c for one output, of the losses without a logarithm (those with one never form it: see
 * output_error): as mse_grad and mae_grad of mnist_mlp/textbook/losses.py. */
DEVICE REAL loss_grad(int kind, REAL F, REAL y) {
    return kind == LOSS_MSE ? F - y : (REAL)0.5 * ((F > y) - (F < y));
}

/* (BP1) for a softmax output and the cross-entropy (35): the fused form of
 * mnist_mlp/textbook/backprop.py (softmax_cross_entropy_error), which derives it,
 *
 *     δ_k = c_k − Σ_j c_j P_jk,   c_j = b_j F_j − a_j (1 − F_j)   (F_j − y_j, unclamped),
 *
 * a_j = y_j [ln F_j ≥ −100], b_j = (1 − y_j) [ln(1 − F_j) ≥ −100], 1 − F_j = Σ_{i≠j} F_i, and
 * P_jk = F_k / (1 − F_j) (k ≠ j; P_jj = 0), the softmax of the outputs other than j. For every j
 * but the largest output t, 1 − F_j ≥ F_t ≥ 1/10: its row is taken of F and needs no bracket b.
 * Row t is taken of z, as e^(z_k − s) / Σ_{i≠t} e^(z_i − s) with s the second largest z, since
 * there 1 − F_t may be a subnormal float or 0. */
DEVICE void softmax_cross_entropy_error(const REAL *z, const REAL *F, const REAL *y,
                                        REAL *delta) {
    int t = 0;
    for (int k = 1; k < CLASSES; k++) t = z[k] > z[t] ? k : t;
    REAL second = -INFINITY, row_t_sum = 0, row_t[CLASSES], c[CLASSES];
    for (int k = 0; k < CLASSES; k++) second = k != t && z[k] > second ? z[k] : second;
    for (int k = 0; k < CLASSES; k++) row_t_sum += row_t[k] = k == t ? 0 : EXP(z[k] - second);
    const REAL lse = z[t] - LOG(F[t]);             /* ln Σ_i e^(z_i), as F_t = e^(z_t − lse) */
    for (int k = 0; k < CLASSES; k++) delta[k] = 0;                 /* Σ_j c_j P_jk, first */
    for (int j = 0; j < CLASSES; j++) {
        const REAL one_minus_F = others_sum(F, j);
        const REAL a = z[j] - lse >= LOG_FLOOR ? y[j] : 0;
        const REAL b = j != t || second + LOG(row_t_sum) - lse >= LOG_FLOOR ? 1 - y[j] : 0;
        c[j] = b * F[j] - a * one_minus_F;                          /* ∂ℓ/∂d_j */
        const REAL *row = j == t ? row_t : F, scale = 1 / (j == t ? row_t_sum : one_minus_F);
        for (int k = 0; k < CLASSES; k++) delta[k] += k == j ? 0 : c[j] * (row[k] * scale);
    }
    for (int k = 0; k < CLASSES; k++) delta[k] = c[k] - delta[k];
}

/* (BP1) δ² = J_ψ(z²)ᵀ ∂ℓ/∂F: mnist_mlp/textbook/backprop.py (output_error); F − y when output
 * and loss are a matched pair, the fused form for a softmax and the cross-entropy (35),
 * −y(1 − F) where ln F ≥ −100 for a sigmoid and the log-likelihood. */
DEVICE void output_error(int output, int loss, int matched, const REAL *z, const REAL *F,
                         const REAL *y, REAL *delta) {
    if (matched) {
        for (int c = 0; c < CLASSES; c++) delta[c] = F[c] - y[c];
        return;
    }
    if (loss == LOSS_BINARY_CROSS_ENTROPY_OF_SOFTMAX) {
        softmax_cross_entropy_error(z, F, y, delta);
        return;
    }
    if (loss == LOSS_LOG_LIKELIHOOD) {  /* of a sigmoid output: of a softmax it is matched */
        for (int c = 0; c < CLASSES; c++)  /* a product, so that a NaN F spreads as in Python */
            delta[c] = -y[c] * (1 - F[c])
                * (y[c] == 0 || log_sigmoid(z[c], F[c], 1 - F[c]) >= LOG_FLOOR);
        return;
    }
    REAL g[CLASSES], dot = 0;
    for (int c = 0; c < CLASSES; c++) g[c] = loss_grad(loss, F[c], y[c]);
    if (output == OUTPUT_SIGMOID) {
        for (int c = 0; c < CLASSES; c++) delta[c] = g[c] * F[c] * (1 - F[c]);
        return;
    }
    for (int c = 0; c < CLASSES; c++) dot += g[c] * F[c];
    for (int c = 0; c < CLASSES; c++) delta[c] = F[c] * (g[c] - dot);
}
