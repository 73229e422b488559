"""Experiments on top of training: the reproduction of the chapter's figures over seeds
(``configurations``, ``reproduce``, ``evidence``, ``results``, ``report``, ``reproduction_plot``,
``stats``), the chapter claim by claim (``statements``, ``claims``, ``sweeps``, ``loss_claims``,
``unbalanced``, ``errata``, ``claims_rules``, ``claims_rows``, ``claims_report``,
``claims_plots``), the engines compared
(``agreement``), the speed benchmark (``benchmark``) and the machine each was measured on
(``machine``)."""
