"""Outcome science core: pure Python + numpy/pandas/scipy/statsmodels, no web framework.

Modules
-------
instruments   instrument definitions (data files) and response validation/scoring
table         the administrations table (one row per administration) and per-episode outcomes
intervals     confidence intervals (Wilson, t, Fisher-z, delta-method effect size, normal)
change        reliable change (Jacobson-Truax, Hageman-Arrindell), cutoffs a/b/c, categories
effectiveness aggregate effectiveness indices over episodes, grouped by any column
etr           expected treatment response (a package: model, io, fitting, calibration)
signals       session colours, alliance flags and episode alerts with plain-language reasons
therapists    therapist effects: ICC and shrunken per-therapist estimates from a mixed model
simulate      synthetic administrations for demos, tests and benchmarks

Everything here works on plain values or pandas DataFrames, so it can be used from a notebook.
"""
