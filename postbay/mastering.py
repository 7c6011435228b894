"""What a master says about its colour, and which master a source deserves.

Every output postbay writes is tagged BT.709 primaries, transfer and matrix (the mov ``colr``
atom, the stream's colour properties): players, Finder and NLEs otherwise guess, and a guess of
"unspecified" shows as a gamma shift. When the source is untagged, the report says what was
assumed for it. A ProRes 4444 source finished without processing stays ProRes 4444, with its
alpha, rather than dropping to the recipe's 4:2:2.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from postbay.media import PRESETS, MediaInfo, Preset

__all__ = ["WRITTEN_TAGS", "colour_report", "master_preset"]

#: The tags every output carries (H.273 names, as probed).
WRITTEN_TAGS = {"primaries": "bt709", "transfer": "bt709", "matrix": "bt709"}


def colour_report(info: MediaInfo) -> dict[str, Any]:
    """The source's colour tags, what was assumed for the missing ones, and what the output carries."""
    video = info.require_video()
    source = {"primaries": video.primaries, "transfer": video.transfer, "matrix": video.matrix, "range": video.range}
    missing = [name for name in ("primaries", "transfer", "matrix") if not source[name]]
    rgb = video.pix_fmt.startswith(("gbr", "rgb", "bgr"))
    if rgb and "matrix" in missing:
        missing.remove("matrix")  # RGB pixels need no matrix; the output's is the one it is encoded with
    report: dict[str, Any] = {"source": source, "written": dict(WRITTEN_TAGS)}
    if missing:
        size = "HD" if video.height >= 720 else "SD"
        report["assumed"] = (f"untagged source ({', '.join(missing)} not set): BT.709 assumed"
                             + (f" ({size}; postbay masters are BT.709)" if size == "SD" else " (HD)"))
    return report


def master_preset(codec: str, info: MediaInfo, *, processed: bool) -> tuple[str | Preset, str | None]:
    """The preset to write ``info``'s master with when the recipe asks for ``codec``, and why if changed.

    A ProRes 4444 source (4:4:4, perhaps with alpha) under the ProRes 422 HQ mastering default
    is kept 4:4:4 in ProRes 4444; its alpha is kept too when the frames pass through untouched
    (``processed`` False: processors work on RGB without alpha).
    """
    video = info.require_video()
    if codec != "prores_hq" or video.codec != "prores" or not video.pix_fmt.startswith(("yuv444", "yuva444")):
        return codec, None
    if video.pix_fmt.startswith("yuva") and not processed:
        alpha = replace(PRESETS["prores_4444"], pix_fmt="yuva444p10le",
                        options={**PRESETS["prores_4444"].options, "alpha_bits": "16"},
                        description="Apple ProRes 4444 with alpha, 10-bit 4:4:4:4")
        return alpha, "ProRes 4444 source with alpha: master kept ProRes 4444 with its alpha (not 4:2:2 HQ)"
    note = "ProRes 4444 source: master kept ProRes 4444 (4:4:4, not 4:2:2 HQ)"
    if video.pix_fmt.startswith("yuva"):
        note += "; its alpha is dropped because the recipe processes the picture"
    return "prores_4444", note
