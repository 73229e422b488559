"""The engine's CUDA backend: runs of ``GRAPH_STEPS`` steps captured once in a CUDA graph, then
replayed with one call, so that launching ~20 small kernels a step does not set the pace
(docs/engine.md, "CUDA graphs")."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .tensor_ops import TensorOps

if TYPE_CHECKING:
    from .stacked import Engine

GRAPH_STEPS = 50  # mini-batch steps captured in one CUDA graph


class CudaGraphs(TensorOps):
    """The epoch's full chunks of ``GRAPH_STEPS`` steps as graph replays, the rest eagerly; a
    graph is captured at the first epoch on the images."""

    name = "cuda-graphs"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, Tensor, Tensor]] = {}
        self.failed = False

    def run(self, images: Tensor, targets: Tensor, generators: Sequence[torch.Generator],
            batch_size: int, batch_losses: Tensor) -> None:
        """See ``Backend.run``. Falls back to eager steps (with a warning) if capture fails."""
        order = self.orders(images.shape[0], generators)
        chunks = 0 if self.failed else images.shape[0] // batch_size // GRAPH_STEPS
        # a graph reads the very tensors it was captured on: a slice of them starts at the
        # same address, so their sizes are part of the key too
        key = (images.data_ptr(), images.shape[0], targets.data_ptr(), batch_size)
        try:
            if chunks and key not in self.graphs:
                self.graphs = {key: self._capture(images, targets, batch_size)}
        except RuntimeError as error:  # pragma: no cover - depends on the CUDA setup
            warnings.warn(f"CUDA graph capture failed ({error}); running eagerly", stacklevel=4)
            self.failed, chunks = True, 0
        span = GRAPH_STEPS * batch_size
        for chunk in range(chunks):
            graph, static_order, static_losses = self.graphs[key]
            static_order.copy_(order[:, chunk * span:(chunk + 1) * span])
            graph.replay()
            batch_losses[:, chunk * GRAPH_STEPS:(chunk + 1) * GRAPH_STEPS].copy_(static_losses)
        self.steps(images, targets, order, batch_size, batch_losses, chunks * GRAPH_STEPS)

    def _capture(self, images: Tensor, targets: Tensor,
                 batch_size: int) -> tuple[torch.cuda.CUDAGraph, Tensor, Tensor]:
        """Capture GRAPH_STEPS steps reading their indices from a static (K, steps·m) buffer
        and writing their mini-batch losses to a static (K, steps) one; the weights as before,
        even where capture fails."""
        engine, span, device = self.engine, GRAPH_STEPS * batch_size, self.engine.device
        static_order = torch.zeros(engine.size, span, dtype=torch.long, device=device)
        static_losses = torch.zeros(engine.size, GRAPH_STEPS, dtype=engine.dtype, device=device)
        parameters = engine.parameters()
        saved = [t.clone() for t in parameters]

        def steps() -> None:
            self.steps(images, targets, static_order, batch_size, static_losses)

        # on the engine's device, which need not be the current one (cuda:1, say): a stream of
        # another device would capture nothing, and every replay would skip its steps
        with torch.cuda.device(device):
            try:
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    steps()  # warm-up, as torch.cuda.graphs asks
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    steps()
            finally:
                torch.cuda.synchronize()  # the warm-up's steps are done, even after a failure
                for parameter, value in zip(parameters, saved, strict=True):
                    parameter.copy_(value)  # undo the warm-up's steps
        return graph, static_order, static_losses
