"""The lab: what writes ``results/``, on top of the library ``mnist_mlp``.

* the reproduction of the chapter's figures over seeds (``configurations``, ``reproduce``,
  ``evidence``, ``results``, ``report``, ``reproduction_plot``);
* the chapter claim by claim (``statements``, ``claim_settings``, ``claims``, ``sweeps``,
  ``loss_claims``, ``unbalanced``, ``errata``, ``claims_rules``, ``claims_rows``,
  ``claims_report``, ``claims_plots``) and one neuron's learning slowdown (``slowdown``);
* the engines compared (``agreement``), the speed benchmark and what a sweep costs
  (``benchmark``, ``costs``), and the machine each was measured on (``machine``);
* ``commands``: the scripts' commands (``scripts/reproduce.py``, ``claims.py``, ``bench.py``,
  ``slowdown.py``, ``compare_engines.py``).

It uses the library through its public API only (``tests/test_layers.py``).
"""
