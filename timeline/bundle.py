"""OpenTimelineIO bundles: the media inside an ``.otioz`` or ``.otiod`` is the media the cut uses.

An ``.otioz`` is a zip of ``content.otio`` and ``media/`` whose references are relative
(``media/shot.mov``); an ``.otiod`` is the same as a folder. postbay relinks those references
against the bundle itself: a folder bundle in place, a zip extracted once into the data dir
(``<data_dir>/bundles/<name>-<digest>/``, reused by later conforms of the same bytes).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from postbay.errors import PostbayError
from postbay.publish import TEMP_MARK

__all__ = ["BundleMedia", "bundle_media"]

_DONE = ".extracted"


@dataclass(frozen=True)
class BundleMedia:
    """Where a bundle's relative media references resolve, and what the report says about it."""

    folder: Path
    note: str


def _digest(path: Path) -> str:
    sha = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:12]


def _extract(path: Path, target: Path) -> None:
    with zipfile.ZipFile(path) as bundle:
        members = bundle.infolist()
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts:
                raise PostbayError(f"bundle member {member.filename!r} points outside the bundle; refused", path=path)
        size = sum(m.file_size for m in members)
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free
        if size > free:
            raise PostbayError(f"the bundle's media needs {size / 1e9:.1f} GB to extract, "
                               f"{free / 1e9:.1f} GB free in {target.parent}", path=path,
                               hint="free space in the data dir or unzip the bundle beside it as an .otiod")
        tmp = target.with_name(f"{target.name}{TEMP_MARK}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        bundle.extractall(tmp)
    (tmp / _DONE).write_text(str(path))
    try:
        os.replace(tmp, target)
    except OSError:  # another conform of the same bundle finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)


def bundle_media(path: Path, fmt: str, data_dir: Path) -> BundleMedia | None:
    """The folder a bundle's media references are relative to (extracting an ``.otioz``), or None
    for a timeline that is not a bundle."""
    if fmt == "otiod":
        return BundleMedia(Path(path), f"media read in place from the folder bundle {Path(path).name}")
    if fmt != "otioz":
        return None
    target = Path(data_dir).expanduser().resolve() / "bundles" / f"{Path(path).stem}-{_digest(path)}"
    if (target / _DONE).is_file():
        return BundleMedia(target, f"media from the bundle, extracted earlier to {target}")
    try:
        _extract(path, target)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PostbayError(f"cannot extract the bundle's media: {exc}", path=path) from None
    return BundleMedia(target, f"media extracted from the bundle to {target}")
