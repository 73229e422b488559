/* The phases of epoch.cu's kernel: thread t of `threads` takes the items t, t + threads, … of
 * the phase, each computed whole. A phase reads only what earlier phases wrote (a barrier
 * apart), and no two threads of a phase write the same number. Indices within a network are
 * int (32-bit division is the GPU's cheap one); offsets into the data are i64. */

/* Network k's parameters into the block's layout: W¹ pixel-major. */
DEVICE void load_network(const struct net *s, const struct fused_args *a, i64 k, int t,
                         int threads) {
    const int l = s->l;
    const float *W1 = a->W1 + k * l * PIXELS, *W2 = a->W2 + k * CLASSES * l;
    for (int q = t; q < PIXELS * l; q += threads) s->w1t[q] = W1[q % l * PIXELS + q / l];
    for (int q = t; q < CLASSES * l; q += threads) s->w2[q] = W2[q];
    for (int q = t; q < l; q += threads) s->b1[q] = a->b1[k * l + q];
    for (int q = t; q < CLASSES; q += threads) s->b2[q] = a->b2[k * CLASSES + q];
}

/* The trained parameters back in the caller's layout. */
DEVICE void store_network(const struct net *s, const struct fused_args *a, i64 k, int t,
                          int threads) {
    const int l = s->l;
    float *W1 = a->W1 + k * l * PIXELS, *W2 = a->W2 + k * CLASSES * l;
    for (int q = t; q < PIXELS * l; q += threads) W1[q % l * PIXELS + q / l] = s->w1t[q];
    for (int q = t; q < CLASSES * l; q += threads) W2[q] = s->w2[q];
    for (int q = t; q < l; q += threads) a->b1[k * l + q] = s->b1[q];
    for (int q = t; q < CLASSES; q += threads) a->b2[k * CLASSES + q] = s->b2[q];
}

/* a¹ = φ(W¹x + b¹) of each sample x of the mini-batch (images batch[0..size)): an item is one
 * sample's hidden unit j, summed over the sample's non-zero pixels in four interleaved partial
 * sums (an addition need not wait for the one before it, and the rounding error of a long sum
 * stays that of a short one). */
DEVICE void hidden_forward_phase(const struct net *s, const struct fused_args *a,
                                 const i32 *batch, int size, int t, int threads) {
    const int l = s->l;
    const i32 *pixel = a->pixel;
    const float *value = a->value, *w = s->w1t;
    for (int q = t; q < size * l; q += threads) {
        const int j = q % l;
        const i64 i = batch[q / l], r1 = a->row_start[i + 1];
        i64 r = a->row_start[i];
        float z0 = 0, z1 = 0, z2 = 0, z3 = 0;
        for (; r + 3 < r1; r += 4) {
            z0 += value[r] * w[pixel[r] * l + j];
            z1 += value[r + 1] * w[pixel[r + 1] * l + j];
            z2 += value[r + 2] * w[pixel[r + 2] * l + j];
            z3 += value[r + 3] * w[pixel[r + 3] * l + j];
        }
        if (r < r1) z0 += value[r] * w[pixel[r] * l + j];
        if (r + 1 < r1) z1 += value[r + 1] * w[pixel[r + 1] * l + j];
        if (r + 2 < r1) z2 += value[r + 2] * w[pixel[r + 2] * l + j];
        s->a1[q] = hidden_forward(a->hidden, (z0 + z1) + (z2 + z3) + s->b1[j]);
    }
}

/* z² = W²a¹ + b²: an item is one sample's output c. */
DEVICE void output_forward_phase(const struct net *s, int size, int t, int threads) {
    const int l = s->l;
    for (int q = t; q < size * CLASSES; q += threads) {
        const int b = q / CLASSES, c = q % CLASSES;
        float z = 0;
        for (int j = 0; j < l; j++) z += s->w2[c * l + j] * s->a1[b * l + j];
        s->out[q] = z + s->b2[c];
    }
}

/* F = ψ(z²), the sample's loss ℓ, and (BP1) δ² times η/m (`step`): an item is one sample. */
DEVICE void output_error_phase(const struct net *s, const struct fused_args *a,
                               const i32 *batch, int size, float step, int t, int threads) {
    for (int b = t; b < size; b += threads) {
        float *F = s->out + b * CLASSES, *d2 = s->d2 + b * CLASSES, z[CLASSES];
        const float *y = a->targets + (i64)batch[b] * CLASSES;
        for (int c = 0; c < CLASSES; c++) z[c] = F[c];
        output_forward(a->output, z, F);
        s->loss[b] = sample_loss(a->loss, z, F, y);
        output_error(a->output, a->loss, a->matched, z, F, y, d2);
        for (int c = 0; c < CLASSES; c++) d2[c] *= step;
    }
}

/* (BP2) δ¹ = (W²ᵀδ²) ⊙ φ'(z¹): an item is one sample's hidden unit. Thread 0 also writes the
 * mini-batch's mean loss (before its step) to *batch_loss. */
DEVICE void hidden_error_phase(const struct net *s, const struct fused_args *a, int size,
                               float *batch_loss, int t, int threads) {
    const int l = s->l;
    for (int q = t; q < size * l; q += threads) {
        const int b = q / l, j = q % l;
        float sum = 0;
        for (int c = 0; c < CLASSES; c++) sum += s->w2[c * l + j] * s->d2[b * CLASSES + c];
        s->d1[q] = sum * hidden_derivative(a->hidden, s->a1[q]);
    }
    if (t == 0) {
        float loss = 0;
        for (int b = 0; b < size; b++) loss += s->loss[b];
        *batch_loss = loss / (float)size;
    }
}

/* (BP3), (BP4) of the output layer, and (BP3) of the hidden one: W² ← W² − Σ δ² a¹ᵀ,
 * b² ← b² − Σ δ², b¹ ← b¹ − Σ δ¹ (each δ already times η/m); an item is one weight or bias. */
DEVICE void update_output_phase(const struct net *s, int size, int t, int threads) {
    const int l = s->l;
    for (int q = t; q < CLASSES * l; q += threads) {
        const int c = q / l, j = q % l;
        float sum = 0;
        for (int b = 0; b < size; b++) sum += s->d2[b * CLASSES + c] * s->a1[b * l + j];
        s->w2[q] -= sum;
    }
    for (int c = t; c < CLASSES; c += threads) {
        float sum = 0;
        for (int b = 0; b < size; b++) sum += s->d2[b * CLASSES + c];
        s->b2[c] -= sum;
    }
    for (int j = t; j < l; j += threads) {
        float sum = 0;
        for (int b = 0; b < size; b++) sum += s->d1[b * l + j];
        s->b1[j] -= sum;
    }
}

/* (BP4) of sample b (image i) in W¹: W¹ ← W¹ − δ¹ xᵀ over its non-zero pixels. An item is a
 * (pixel, unit) pair: distinct pairs, distinct weights. Four items are read before any is
 * written (they cannot alias), so that the reads need not wait for the writes. */
DEVICE void update_hidden_phase(const struct net *s, const struct fused_args *a, i64 i, int b,
                                int t, int threads) {
    const int l = s->l, items = (int)(a->row_start[i + 1] - a->row_start[i]) * l;
    const i32 *pixel = a->pixel + a->row_start[i];
    const float *value = a->value + a->row_start[i], *d1 = s->d1 + b * l;
    for (int q0 = t; q0 < items; q0 += 4 * threads) {
        float *w[4], old[4], change[4];
        for (int u = 0; u < 4; u++) {
            const int q = q0 + u * threads, r = q / l, j = q % l;
            if (q < items) {
                w[u] = s->w1t + pixel[r] * l + j;
                change[u] = value[r] * d1[j];
                old[u] = *w[u];
            }
        }
        for (int u = 0; u < 4; u++)
            if (q0 + u * threads < items) *w[u] = old[u] - change[u];
    }
}
