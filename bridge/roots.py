"""The folders the HTTP API may touch, and the check every request path goes through.

A path from a request is resolved (symlinks followed, ``..`` collapsed) and must then lie
inside one of the configured roots: the media roots, the hot folders and their output
folders, the API's inbox and its output folder. Anything else is refused with a 403, so a
client can neither read ``/etc/passwd`` through a still nor write a render into ``/``.
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

    @classmethod
    def from_config(cls, config: Config) -> Roots:
        inbox = Path(config.api.inbox or Path(config.data_dir) / "inbox")
        output = Path(config.data_dir) / "out"
        folders = [*config.media_roots, inbox, output]
        for watch in config.watch:
            folders += [watch.path, watch.output_dir()]
        resolved: list[Path] = []
        for folder in folders:
            real = Path(folder).expanduser().resolve()
            if real not in resolved:
                resolved.append(real)
        return cls(tuple(resolved), inbox.resolve(), output.resolve())

    def confine(self, path: str | Path) -> Path:
        """The real path of ``path`` when it lies inside a root; :class:`OutsideRoots` otherwise."""
        raw = str(path)
        if not raw or "\x00" in raw:
            raise OutsideRoots(raw)
        candidate = Path(raw).expanduser()
        if not candidate.is_absolute():
            raise OutsideRoots(raw)
        real = candidate.resolve()  # follows every symlink on the way, then collapses ..
        if any(real == root or real.is_relative_to(root) for root in self.folders):
            return real
        raise OutsideRoots(raw)

    def contains(self, path: str | Path) -> bool:
        try:
            self.confine(path)
        except OutsideRoots:
            return False
        return True

    def describe(self) -> list[str]:
        return [str(p) for p in self.folders]
