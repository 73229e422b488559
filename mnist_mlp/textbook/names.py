"""The names of the textbook's choices, without torch, for ``--help`` and for checking a
configuration before torch has loaded. Each is defined in ``activations``, ``losses`` or
``model``; ``tests/test_cli.py`` holds those tables' names to these, in order.
"""

HIDDEN_ACTIVATION_NAMES = ("sigmoid", "tanh", "relu")
OUTPUT_ACTIVATION_NAMES = ("softmax", "sigmoid")
LOSS_DESCRIPTIONS = {
    "binary_cross_entropy": "the cross-entropy (35), both terms",
    "log_likelihood": "the first term of (35) alone (Nielsen's log-likelihood; PyTorch's "
                      "cross_entropy)",
    "mse": "the L2 loss, mean square error (Nielsen's quadratic cost)",
    "mae": "the L1 loss, mean absolute error",
}
"""Each loss in words; the first, the chapter's recipe for MNIST, is the default."""
LOSS_NAMES = tuple(LOSS_DESCRIPTIONS)
AMBIGUOUS = {"cross_entropy": (
    "'cross_entropy' names two losses: the chapter's cross-entropy (35) is "
    "binary_cross_entropy, its first term alone (PyTorch's cross_entropy, Nielsen's "
    "log-likelihood) is log_likelihood")}
"""Names no longer taken, and why (until version 0.2 ``cross_entropy`` was the first term)."""
RENAMED = {"cross_entropy": "log_likelihood"}
"""Old loss names, in checkpoints and results written before version 0.2, and their names now."""
INIT_NAMES = ("pytorch", "normal", "scaled_normal")
"""pytorch: nn.Linear's default; normal: N(0, 1) as in the classic experiment; scaled_normal:
N(0, 1/n_in)."""
