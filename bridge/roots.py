"""The folders the HTTP API may touch, and the check every request path goes through.

A path from a request is resolved (symlinks followed, ``..`` collapsed) and must then lie
inside one of the configured roots: the media roots, the hot folders and their output
folders, the API's inbox and its output folder. Anything else is refused with a 403, so a
client can neither read ``/etc/passwd`` through a still nor write a render into ``/``. A
job's output folder must lie inside an output root (not a media root: a render must never
land among, and replace, the originals).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from postbay.config import Config

__all__ = ["OutsideRoots", "Roots"]


class OutsideRoots(Exception):
    """A request path that resolves outside every configured root."""

    def __init__(self, path: str):
        super().__init__(f"{path}: outside the folders postbay serves")
        self.path = path


@dataclass(frozen=True)
class Roots:
    """The configured roots, resolved once at start."""

    folders: tuple[Path, ...]
    inbox: Path
    output: Path
    #: Where a job's ``out`` may point: the hot folders' outputs, the API's output folder and
    #: ``output_roots``; never a media root or a drop folder, whose files postbay did not make.
    outputs: tuple[Path, ...] = ()

    @classmethod
    def from_config(cls, config: Config) -> Roots:
        inbox = config.inbox_dir()
        output = Path(config.data_dir) / "out"
        outputs = [output, *config.output_roots, *(watch.output_dir() for watch in config.watch)]
        folders = [*config.media_roots, inbox, *outputs, *(watch.path for watch in config.watch)]
        return cls(_resolved(folders), inbox.resolve(), output.resolve(), _resolved(outputs))

    def confine(self, path: str | Path) -> Path:
        """The real path of ``path`` when it lies inside a root; :class:`OutsideRoots` otherwise."""
        return _inside(path, self.folders)

    def confine_output(self, path: str | Path) -> Path:
        """The real path of an output folder inside an output root; :class:`OutsideRoots` otherwise."""
        try:
            return _inside(path, self.outputs)
        except OutsideRoots:
            raise OutsideRoots(f"{path} (not an output folder: jobs write into the hot folders' outputs, "
                               f"{self.output} or output_roots)") from None

    def contains(self, path: str | Path) -> bool:
        try:
            self.confine(path)
        except OutsideRoots:
            return False
        return True

    def describe(self) -> list[str]:
        return [str(p) for p in self.folders]


def _resolved(folders: list[Path]) -> tuple[Path, ...]:
    resolved: list[Path] = []
    for folder in folders:
        real = Path(folder).expanduser().resolve()
        if real not in resolved:
            resolved.append(real)
    return tuple(resolved)


def _inside(path: str | Path, roots: tuple[Path, ...]) -> Path:
    raw = str(path)
    if not raw or "\x00" in raw:
        raise OutsideRoots(raw)
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        raise OutsideRoots(raw)
    real = candidate.resolve()  # follows every symlink on the way, then collapses ..
    if any(real == root or real.is_relative_to(root) for root in roots):
        return real
    raise OutsideRoots(raw)
