"""The names of the textbook's choices, without torch: the commands list them in ``--help`` and
check a configuration before torch has loaded (a second or two).

What each name means is defined in its module: ``activations.HIDDEN_ACTIVATIONS`` and
``OUTPUT_ACTIVATIONS``, ``losses.LOSSES``, ``model.INITS``. A choice added there is added here
too; ``tests/test_cli.py`` holds each table's names to these, in order.
"""

HIDDEN_ACTIVATION_NAMES = ("sigmoid", "tanh", "relu")
OUTPUT_ACTIVATION_NAMES = ("softmax", "sigmoid")
LOSS_NAMES = ("mse", "mae", "binary_cross_entropy", "cross_entropy")
INIT_NAMES = ("pytorch", "normal", "scaled_normal")
"""pytorch: nn.Linear's default; normal: N(0, 1) as in the classic experiment; scaled_normal:
N(0, 1/n_in)."""
