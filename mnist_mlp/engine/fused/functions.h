/* The activations and losses of one sample, for epoch.cu: ../native/epoch.c's arithmetic in
 * float (mnist_mlp/textbook: activations.py, losses.py), and the float32-stable output error
 * of a softmax output under the cross-entropy (35). */

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

/* ℓ(F, y) of one sample; a term whose weight y_c or 1 − y_c is 0 is not computed. */
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
        default:
            if (y[c] != 0) sum -= y[c] * clamped_log(F[c], floor);
        }
    }
    return kind == LOSS_MSE || kind == LOSS_MAE ? 0.5f * sum : sum;
}

/* ∂ℓ/∂F_c for one output. */
DEVICE float loss_grad(int kind, float F, float y, float floor) {
    switch (kind) {
    case LOSS_MSE: return F - y;
    case LOSS_MAE: return 0.5f * (float)((F > y) - (F < y));
    case LOSS_BINARY_CROSS_ENTROPY:
        return -y * clamped_log_grad(F, floor) + (1 - y) * clamped_log_grad(1 - F, floor);
    default: return -y * clamped_log_grad(F, floor);
    }
}

/* (BP1) δ² = J_ψ(z²)ᵀ ∂ℓ/∂F, or F − y when output and loss are a matched pair. */
DEVICE void output_error(int output, int loss, int matched, float floor, const float *F,
                         const float *y, float *delta) {
    if (matched) {
        for (int c = 0; c < CLASSES; c++) delta[c] = F[c] - y[c];
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

/* A softmax output under the cross-entropy (35): its loss, and (BP1) into delta, in float32
 * without 1/F (which overflows once F is subnormal) and without a difference of two huge numbers.
 * With g_j = ∂ℓ/∂F_j and q_j = 1 − F_j summed as Σ_{i≠j} F_i (no cancellation when F_j ≈ 1),
 *     h_j = g_j F_j = −y_j [F_j ≥ floor] + (1 − y_j) [q_j ≥ floor] F_j / q_j,
 *     δ_k = F_k (g_k − Σ_j g_j F_j) = h_k − F_k Σ_j h_j = h_k q_k − Σ_{i≠k} F_k h_i.
 * The last form is the one computed: h_k q_k and each F_k h_i (F_k ≤ q_i, so F_k F_i / q_i ≤ 1)
 * are at most 1 in size. (h_k − F_k Σ_j h_j would subtract two numbers of size 1/q_k when a
 * wrong output saturates, F_k → 1: in float32 the difference is lost once q_k < 6·10⁻⁸, and
 * h_k overflows once q_k < 3·10⁻³⁹.) ln(1 − F_j) in the loss is the clamped log of q_j. */
DEVICE float softmax_cross_entropy_35(const float *F, const float *y, float floor,
                                      float *delta) {
    float q[CLASSES], loss = 0;
    for (int j = 0; j < CLASSES; j++) {
        q[j] = 0;
        for (int i = 0; i < CLASSES; i++)
            if (i != j) q[j] += F[i];
        if (y[j] != 0) loss -= y[j] * clamped_log(F[j], floor);
        if (y[j] != 1) loss -= (1 - y[j]) * clamped_log(q[j], floor);
    }
    for (int k = 0; k < CLASSES; k++) {
        float d = (F[k] >= floor ? -y[k] * q[k] : 0) + (q[k] >= floor ? (1 - y[k]) * F[k] : 0);
        for (int i = 0; i < CLASSES; i++) {
            if (i == k) continue;
            d -= (F[i] >= floor ? -y[i] * F[k] : 0)
                 + (q[i] >= floor ? (1 - y[i]) * (F[k] * F[i] / q[i]) : 0);  /* F_k h_i */
        }
        delta[k] = d;
    }
    return loss;
}
