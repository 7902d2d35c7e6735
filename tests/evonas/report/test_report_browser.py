"""The report in a real browser: headless Chromium renders it, and the page must show up.

Debian's ``chromium`` package (installed by ``.ci/run``) provides the browser. The test skips,
saying why, only where no Chromium binary is found.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evonas.report import write_report
from evonas.run import Run
from tests.evonas.analysis.lineage_runs import regularized_run
from tests.evonas.report.report_page import FIGURES, ReportPage, png_of

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no Chromium binary found (looked for {', '.join(BROWSERS)} on PATH); "
                "install Debian's chromium package to run the browser test")


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with regularized_run(tmp_path_factory.mktemp("browser")) as run:
        return write_report(run)


def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    binary = browser()
    url = report.resolve().as_uri()
    shot = tmp_path / "report.png"
    chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}",
             "--window-size=1280,2000", "--hide-scrollbars", url)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    rgb = np.asarray(image, dtype=int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    ink = int((r + g + b < 600).sum())
    blue = int(((b > r + 60) & (b > g + 20)).sum())  # the charts' blue dots and lines
    assert ink > 0.01 * r.size, "the screenshot is blank"
    assert blue > 500, "no chart is visible in the screenshot"

    dom = chromium(binary, tmp_path / "profile-dom", "--dump-dom", url).stdout
    page = ReportPage(dom)
    with Run(report.parent) as run:
        assert page.title == f"evonas report: {run.name}"
    assert set(FIGURES) <= set(page.figures)
    for fig_id in FIGURES:
        width, height = png_of(page.figures[fig_id]).size
        assert width > 200 and height > 100, fig_id
    assert page.external == []
