"""Experiments on top of training: the reproduction of the chapter's figures over seeds
(``reproduce``, ``report``, ``stats``), the engines compared (``agreement``), the speed benchmark
(``benchmark``) and the machine each was measured on (``machine``)."""
