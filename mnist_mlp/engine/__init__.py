"""The fast engine: K networks trained at once by the hand-written backpropagation, fused.

The reference loop (``mnist_mlp.training.reference``) trains one network with autograd, a few
dozen small tensor operations per mini-batch. Here the same arithmetic runs for K independent
networks of one architecture — different seeds and/or learning rates — in a handful of batched
operations:

* the data sits on the device as one tensor, and network k's mini-batch is a row of indices
  into it, drawn from its own generator by ``mnist_mlp.data.epoch_order``;
* the parameters of the K networks are stacked: ``W1`` (K, l, 784), ``b1`` (K, 1, l),
  ``W2`` (K, 10, l), ``b2`` (K, 1, 10), so every layer is one batched matrix product;
* a step is the chapter's rule in two parts: ``Engine.gradients``, the textbook's (BP1)–(BP4)
  as in ``mnist_mlp.textbook.backprop``, and ``Engine.update``, θ ← θ − η ∂L/∂θ;
* on CUDA, in float32, a whole epoch of all K networks is one kernel launch
  (``mnist_mlp.engine.fused``: one thread block per network, W¹ kept on chip, the same
  arithmetic as one CUDA C kernel); where that kernel cannot be built, or in float64, runs of
  steps are captured once in a CUDA graph and replayed, so that launching ~20 small kernels
  does not dominate a mini-batch of 10;
* on a CPU, where each tensor operation costs microseconds of overhead whatever its size, a
  whole epoch of one network is a single call into C (``mnist_mlp.engine.native``, the same
  arithmetic written out as loops), networks spread over the CPU's threads; without a C
  compiler, or for an activation or loss it has no case for, the tensor operations of ``step``
  run instead.

With the same initial weights and the same mini-batch order, network k ends an epoch with the
weights that the reference loop gives it (tests compare them).

How an epoch runs is a *backend*, chosen once per engine:

* ``TensorOps`` (``tensor_ops.py``): ``Engine.step``'s tensor operations, step by step —
  anywhere, for any activation and loss;
* ``CudaGraphs`` (``cuda_graphs.py``): the same steps, captured in CUDA graphs and replayed;
* ``NativeLoop`` (``native/``): the compiled C loop, one call per network and epoch, on a CPU;
* ``FusedKernel`` (``fused/``): the CUDA kernel, one launch per epoch for all networks.

The compiled loop and the kernel are accelerators, never requirements: each has its tables of
the activations and losses it has cases for, and the engine leaves anything else (an activation
or a loss added in Python only) to the tensor operations, saying so in one warning. Where a
new one is written is one list, in CONTRIBUTING.md ("Adding a loss or an activation").

The engine knows nothing of data files, run folders or checkpoints: ``mnist_mlp.training.fast``
trains with it under the training driver.
"""

from .fused.device import describe as describe_fused_kernel
from .fused.device import kernel as fused_kernel
from .native import describe as describe_native_loop
from .native import library as native_library
from .stacked import Engine

__all__ = ["Engine", "describe_fused_kernel", "describe_native_loop", "fused_kernel",
           "native_library"]
"""``Engine``, and what the benchmark reports of the two compiled backends: whether each can
run here (``native_library(dtype)``, ``fused_kernel(cuda_index)``: None where not) and what it
is built with (``describe_native_loop()``, ``describe_fused_kernel(cuda_index)``)."""
