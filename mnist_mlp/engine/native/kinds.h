/* The activations and losses the engine's C code knows, each an enum constant and, at the same
 * place in its table, its name: written once for the CPU loop (epoch.c) and the CUDA kernel
 * (../fused/epoch.cu), whose one-sample functions (per_sample.h) switch on these constants.
 *
 * The tables give the enums' values by name, in order, each list ending with 0: the Python
 * caller (build.py: tables) reads them from this file and maps the package's names
 * (mnist_mlp/textbook: activations, losses) to these indices; it checks that a compiled library
 * exports the same tables, and a test that each enum and its table agree. A CUDA module has no
 * host tables: only the C builds (epoch.c, epoch.cu's host build) define them.
 */

enum hidden_activation { HIDDEN_SIGMOID, HIDDEN_TANH, HIDDEN_RELU };
enum output_activation { OUTPUT_SIGMOID, OUTPUT_SOFTMAX };
/* The last two losses are those of a softmax output taken in log space: losses of their own
 * here, since sample_loss sees z and F and not the activation (the two before them are then of
 * a sigmoid output); the cross-entropy (35) takes ln(1 − F_j) of Σ_{i≠j} F_i, and its (BP1) is
 * the fused form of softmax_cross_entropy_error. */
enum loss { LOSS_MSE, LOSS_MAE, LOSS_BINARY_CROSS_ENTROPY, LOSS_LOG_LIKELIHOOD,
            LOSS_BINARY_CROSS_ENTROPY_OF_SOFTMAX, LOSS_LOG_LIKELIHOOD_OF_SOFTMAX };

#ifndef __CUDACC__
const char *const HIDDEN_NAMES[] = {"sigmoid", "tanh", "relu", 0};
const char *const OUTPUT_NAMES[] = {"sigmoid", "softmax", 0};
const char *const LOSS_NAMES[] = {"mse", "mae", "binary_cross_entropy", "log_likelihood",
                                  "binary_cross_entropy_of_softmax", "log_likelihood_of_softmax",
                                  0};
#endif
