"""The textbook layer: the chapter's network, losses, gradients and measures, nothing else.

| the chapter | here |
| --- | --- |
| the 784-l-10 network F(x) | ``model.MLP`` |
| activations and their derivatives (Jacobians) | ``activations`` |
| the losses: L2, L1 (1/(2m)), cross-entropy (35), softmax cross-entropy; ∂ℓ/∂F | ``losses`` |
| a loss of F = ψ(z) taken from z, for autograd (float32-safe) | ``losses.network_loss`` |
| the softmax-gradient derivation, line by line, as printed and corrected | ``softmax_gradient`` |
| the backpropagation algorithm (Jacobians), by hand as (BP1)–(BP4) | ``backprop.gradients`` |
| the output error (BP1), fused for softmax + (35) | ``backprop.output_error`` |
| gradient descent θ ← θ − η ∂L/∂θ on a mini-batch | ``sgd.sgd_step`` |
| one sigmoid neuron, its gradients (36), (37), the learning slowdown | ``neuron`` |
| accuracy, precision, recall, specificity (and balanced accuracy) | ``metrics`` |

It imports nothing from the rest of the package: no data, no training, no files.
"""

from .backprop import gradients
from .losses import LOSSES, get_loss
from .model import MLP
from .sgd import sgd_step

__all__ = ["LOSSES", "MLP", "get_loss", "gradients", "sgd_step"]
