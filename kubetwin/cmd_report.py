"""``kubetwin report DIR -o report.html``: one static HTML page with the plots of a run, comparison or sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        directory: Annotated[Path, typer.Argument(metavar="DIR",
                                                  help="a simulate, compare/replay or sweep output folder")],
        out: Annotated[Path, typer.Option("-o", "--out", help="the HTML file to write")] = Path("report.html"),
    ) -> None:
        """Write a static HTML report (plots as inline SVG; opens without a network) for DIR."""
        from validator.htmlreport import write_report

        kind = write_report(directory, out)
        Console(stderr=True, highlight=False).print(f"wrote {out} ({kind} report, {out.stat().st_size:,} bytes)")
