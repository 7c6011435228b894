"""Which file a job's render may become: never one another job made, never one postbay did not.

Outputs are named after their source's stem, so ``take.mp4`` and ``take.mkv`` in one folder
would both become ``out/take.mov``, and an output folder that already holds ``shot.mov``
(an original, a client's file) would have it replaced. Before a job starts, the daemon picks
its output name here: the stem itself when that file is free or is an earlier render of the
same delivery (a re-export under the same name replaces its own render, as users expect);
else the stem with the source's extension (``take-mkv``), then with a counter.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Collection
from pathlib import Path

from postbay.naming import failed_report_path
from postbay.publish import write_json_atomic

from .ledger import Job, Ledger

__all__ = ["made_by_postbay_for", "output_name", "skip_report"]

log = logging.getLogger("postbay.daemon")


def made_by_postbay_for(path: Path, source_name: str, ledger: Ledger) -> bool:
    """Whether ``path`` is postbay's render of a source named ``source_name``: the ledger credits
    it to a job of that name, or (a ledger since reset) its report next to it says so."""
    owner = ledger.output_owner(path)
    if owner is not None:
        return Path(owner.dropped).name == source_name
    report = path.with_name(path.stem + ".report.json")
    try:
        made = json.loads(report.read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(made, dict) and made.get("output") == str(path)
            and Path(str(made.get("source", ""))).name == source_name)


def output_name(source: Path, path_for: Callable[[str], Path], ledger: Ledger,
                planned: Collection[Path] = ()) -> str:
    """The stem to name ``source``'s output with; ``path_for(stem)`` is the output file a stem
    gives, and ``planned`` the outputs of jobs running now (not on disk yet)."""
    extension = source.suffix.lstrip(".").lower() or "src"
    candidates = [source.stem, f"{source.stem}-{extension}",
                  *(f"{source.stem}-{extension}-{n}" for n in range(2, 1000))]
    for stem in candidates:
        path = path_for(stem)
        if path in planned:
            continue
        if not path.exists() or made_by_postbay_for(path, source.name, ledger):
            return stem
    raise OSError(f"{source.name}: a thousand outputs of this name already exist in {path_for(source.stem).parent}")


def skip_report(job: Job, kept: str, source: Path) -> Path | None:
    """Write ``reports/NAME.skipped.json`` in the output folder for a job that ``existing_output =
    "skip"`` ended: what was not rendered and which file was kept (the kept file's own report,
    beside it, is left as it is). None when it cannot be written (said in the log)."""
    path = failed_report_path(Path(kept).with_name(f"{Path(kept).stem}.skipped.json"))
    try:
        path.parent.mkdir(exist_ok=True)
        write_json_atomic(path, {
            "status": "skipped", "job": job.id, "source": str(source), "dropped": job.dropped, "recipe": job.recipe,
            "kept": kept, "why": 'the output exists and existing_output is "skip"',
            "finished": dt.datetime.now(dt.UTC).isoformat()})
    except OSError as exc:
        log.warning("job %s: cannot write its skip report %s: %s", job.id, path, exc)
        return None
    return path
