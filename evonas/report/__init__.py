"""The campaign report: charts and one self-contained HTML page per run.

>>> from evonas.report import write_report
>>> write_report("runs/nb")          # writes runs/nb/report.html
"""

from evonas.objectives import Objective, objectives_from_config, pareto_mask, parse_objective
from evonas.report.build import REPORT_FILE, build_report, write_report
from evonas.report.drawing import draw_genome, genome_layout

__all__ = [
    "REPORT_FILE",
    "Objective",
    "build_report",
    "draw_genome",
    "genome_layout",
    "objectives_from_config",
    "pareto_mask",
    "parse_objective",
    "write_report",
]
