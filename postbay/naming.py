"""What happens when a finished file's name is already taken, and where failure reports go.

A deliverable is never replaced silently. The policy (``existing_output`` in the config,
``--overwrite`` / ``--skip-existing`` on the command line) says what to do instead:

- ``version`` (default): write ``NAME_v2.mov`` (then ``_v3`` …) beside ``NAME.mov``;
- ``overwrite``: replace it (the new file is published atomically, never half-written);
- ``skip``: leave it and do not render.

The report of a *failed* render goes to ``reports/`` inside the output folder, so the folder
an editor collects deliverables from holds finished files and their reports only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from postbay.errors import PostbayError

__all__ = ["EXISTING_OUTPUT", "ExistingOutput", "OutputExists", "failed_report_path", "place_output",
           "report_beside"]

ExistingOutput = Literal["version", "overwrite", "skip"]
EXISTING_OUTPUT: tuple[ExistingOutput, ...] = ("version", "overwrite", "skip")


class OutputExists(PostbayError):
    """The output exists and the policy is ``skip``: nothing was rendered, ``output`` was kept."""

    def __init__(self, output: Path):
        super().__init__('an output of this name exists and existing_output is "skip"', path=output)
        self.output = output


def _stem_suffix(output: Path, folder: bool) -> tuple[str, str]:
    """A file's stem and extension; a folder (a frame sequence) is all name: ``sh010.comp.v003``
    has no extension to keep."""
    return (output.name, "") if folder else (output.stem, output.suffix)


def report_beside(output: Path, *, folder: bool = False) -> Path:
    """``NAME.report.json`` for ``NAME.mov`` (for the folder ``NAME`` when ``folder``)."""
    return output.with_name(f"{_stem_suffix(output, folder)[0]}.report.json")


def place_output(output: Path, policy: ExistingOutput, *, folder: bool = False) -> Path | None:
    """Where to write ``output`` (a file, or a folder of frames when ``folder``) under ``policy``:
    itself, the next free ``NAME_vN``, or ``None`` (skip) when it exists."""
    if policy == "overwrite" or not output.exists():
        return output
    if policy == "skip":
        return None
    stem, suffix = _stem_suffix(output, folder)
    n = 2
    while (candidate := output.with_name(f"{stem}_v{n}{suffix}")).exists():
        n += 1
    return candidate


def failed_report_path(report: Path) -> Path:
    """Where the report of a failed render goes: ``reports/`` beside the deliverables."""
    return report.parent / "reports" / report.name
