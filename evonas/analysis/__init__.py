"""Reading finished (or running) campaigns: lineage, genome diffs, comparisons, Pareto fronts.

Everything here reads a run folder through :mod:`evonas.storage`'s query API and never writes:

* :mod:`evonas.analysis.lineage`: ancestry trees, operator statistics, diversity over time.
* :mod:`evonas.analysis.genome_diff`: what changed between two genomes, in words.
* :mod:`evonas.analysis.compare`: several runs side by side (best-so-far curves, tables).
* :mod:`evonas.analysis.pareto`: the non-dominated individuals of a run (``best --pareto``).
"""
