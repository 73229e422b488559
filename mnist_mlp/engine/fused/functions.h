/* The activations and losses of one sample, for epoch.cu: ../native/epoch.c's functions of the
 * same names, in float (mnist_mlp/textbook: activations.py, losses.py, backprop.py). */

/* ln is clamped at −100 in log space by the cross-entropy of a softmax output:
 * mnist_mlp.textbook.losses.LOG_FLOOR. */
#define LOG_FLOOR (-100.0f)

/* φ(z), and φ'(z) written with a = φ(z). */
DEVICE float hidden_forward(int kind, float z) {
    switch (kind) {
    case HIDDEN_SIGMOID: return 1 / (1 + expf(-z));
    case HIDDEN_TANH: return tanhf(z);
    default: return z > 0 ? z : 0;
    }
}

DEVICE float hidden_derivative(int kind, float a) {
    switch (kind) {
    case HIDDEN_SIGMOID: return a * (1 - a);
    case HIDDEN_TANH: return 1 - a * a;
    default: return a > 0 ? 1.0f : 0.0f;
    }
}

/* F = ψ(z²) over the 10 outputs, in place: sigmoid, or softmax (shifted by max z). */
DEVICE void output_forward(int kind, float *F) {
    if (kind == OUTPUT_SIGMOID) {
        for (int c = 0; c < CLASSES; c++) F[c] = 1 / (1 + expf(-F[c]));
        return;
    }
    float top = F[0], total = 0;
    for (int c = 1; c < CLASSES; c++) top = F[c] > top ? F[c] : top;
    for (int c = 0; c < CLASSES; c++) total += F[c] = expf(F[c] - top);
    for (int c = 0; c < CLASSES; c++) F[c] /= total;
}

/* ln max(F, floor), written so that a NaN F gives a NaN loss (divergence stays visible). */
DEVICE float clamped_log(float F, float floor) { return logf(F < floor ? floor : F); }

/* d clamped_log(F) / dF: 1/F where F ≥ floor, else 0. */
DEVICE float clamped_log_grad(float F, float floor) { return F >= floor ? 1 / F : 0; }

/* max(ln x, −100): ln 0 = −∞ becomes −100; a NaN stays NaN. */
DEVICE float log_clamped(float x) {
    const float l = logf(x);
    return l < LOG_FLOOR ? LOG_FLOOR : l;
}

/* Σ_{i≠j} F_i: 1 − F_j of a softmax output, without the cancellation of 1 − F_j at F_j ≈ 1. */
DEVICE float others_sum(const float *F, int j) {
    float sum = 0;
    for (int i = 0; i < CLASSES; i++) sum += i == j ? 0 : F[i];
    return sum;
}

/* ℓ(F, y) of one sample; a term whose weight y_c or 1 − y_c is 0 is not computed. The
 * cross-entropy (35) of a softmax output is a loss of its own, as in epoch.c. */
DEVICE float sample_loss(int kind, const float *F, const float *y, float floor) {
    float sum = 0;
    for (int c = 0; c < CLASSES; c++) {
        const float d = F[c] - y[c];
        switch (kind) {
        case LOSS_MSE: sum += d * d; break;
        case LOSS_MAE: sum += fabsf(d); break;
        case LOSS_BINARY_CROSS_ENTROPY:
            if (y[c] != 0) sum -= y[c] * clamped_log(F[c], floor);
            if (y[c] != 1) sum -= (1 - y[c]) * clamped_log(1 - F[c], floor);
            break;
        case LOSS_BINARY_CROSS_ENTROPY_OF_SOFTMAX:
            if (y[c] != 0) sum -= y[c] * log_clamped(F[c]);
            if (y[c] != 1) sum -= (1 - y[c]) * log_clamped(others_sum(F, c));
            break;
        default:
            if (y[c] != 0) sum -= y[c] * clamped_log(F[c], floor);
        }
    }
    return kind == LOSS_MSE || kind == LOSS_MAE ? 0.5f * sum : sum;
}

/* ∂ℓ/∂F_c for one output (the cross-entropy of a softmax output never needs it). */
DEVICE float loss_grad(int kind, float F, float y, float floor) {
    switch (kind) {
    case LOSS_MSE: return F - y;
    case LOSS_MAE: return 0.5f * (float)((F > y) - (F < y));
    case LOSS_BINARY_CROSS_ENTROPY:
        return -y * clamped_log_grad(F, floor) + (1 - y) * clamped_log_grad(1 - F, floor);
    default: return -y * clamped_log_grad(F, floor);
    }
}

/* (BP1) for a softmax output and the cross-entropy (35), from the log-odds of the outputs:
 * epoch.c's softmax_cross_entropy_error, which says how (and
 * mnist_mlp.textbook.backprop.softmax_cross_entropy_error, which derives it),
 *
 *     δ_k = c_k − Σ_j c_j P_jk,   c_j = b_j F_j − a_j (1 − F_j),   P_jk = F_k / (1 − F_j),
 *
 * every factor at most 1 in size; the row of the largest output t taken from z. */
DEVICE void softmax_cross_entropy_error(const float *z, const float *F, const float *y,
                                        float *delta) {
    int t = 0;
    for (int k = 1; k < CLASSES; k++) t = z[k] > z[t] ? k : t;
    float second = z[t == 0], row_t_sum = 0, row_t[CLASSES], c[CLASSES];  /* z of another */
    for (int k = 0; k < CLASSES; k++) second = k != t && z[k] > second ? z[k] : second;
    for (int k = 0; k < CLASSES; k++) row_t_sum += row_t[k] = k == t ? 0 : expf(z[k] - second);
    const float lse = z[t] - logf(F[t]);            /* ln Σ_i e^(z_i), as F_t = e^(z_t − lse) */
    for (int k = 0; k < CLASSES; k++) delta[k] = 0;                  /* Σ_j c_j P_jk, first */
    for (int j = 0; j < CLASSES; j++) {
        const float one_minus_F = others_sum(F, j);
        const float a = z[j] - lse >= LOG_FLOOR ? y[j] : 0;
        const float b = j != t || second + logf(row_t_sum) - lse >= LOG_FLOOR ? 1 - y[j] : 0;
        c[j] = b * F[j] - a * one_minus_F;                           /* ∂ℓ/∂d_j */
        const float *row = j == t ? row_t : F, scale = 1 / (j == t ? row_t_sum : one_minus_F);
        for (int k = 0; k < CLASSES; k++) delta[k] += k == j ? 0 : c[j] * (row[k] * scale);
    }
    for (int k = 0; k < CLASSES; k++) delta[k] = c[k] - delta[k];
}

/* (BP1) δ² = J_ψ(z²)ᵀ ∂ℓ/∂F: F − y when output and loss are a matched pair, the log-odds form
 * for a softmax and the cross-entropy (35). */
DEVICE void output_error(int output, int loss, int matched, float floor, const float *z,
                         const float *F, const float *y, float *delta) {
    if (matched) {
        for (int c = 0; c < CLASSES; c++) delta[c] = F[c] - y[c];
        return;
    }
    if (loss == LOSS_BINARY_CROSS_ENTROPY_OF_SOFTMAX) {
        softmax_cross_entropy_error(z, F, y, delta);
        return;
    }
    float g[CLASSES], dot = 0;
    for (int c = 0; c < CLASSES; c++) g[c] = loss_grad(loss, F[c], y[c], floor);
    if (output == OUTPUT_SIGMOID) {
        for (int c = 0; c < CLASSES; c++) delta[c] = g[c] * F[c] * (1 - F[c]);
        return;
    }
    for (int c = 0; c < CLASSES; c++) dot += g[c] * F[c];
    for (int c = 0; c < CLASSES; c++) delta[c] = F[c] * (g[c] - dot);
}
