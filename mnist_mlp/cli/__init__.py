"""The commands: argument parsing and printing only; the work is done by the layers below.

``train`` (``mnist-mlp-train``, ``scripts/train.py``), ``evaluate`` (``mnist-mlp-evaluate``),
``predict`` (``mnist-mlp-predict``), ``reproduce``, ``claims``, ``compare_engines``, ``bench`` and
``slowdown`` (``scripts/<name>.py``). Each ``main`` is wrapped by ``common.one_line_errors``.
"""
