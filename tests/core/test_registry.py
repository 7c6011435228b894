"""The processor registry: plugins are discovered, broken ones reported, bad records refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from postbay.errors import PostbayError
from postbay.registry import ParamModel, Processor, Registry, default_registry, discover_plugins


class _Params(ParamModel):
    gain: float = 1.0


def _gain(frames, ctx, params):
    return frames[0] * params.gain


def test_plugins_are_discovered_and_broken_ones_reported():
    good = SimpleNamespace(name="vig", value="pkg:REC", dist=SimpleNamespace(name="pkg"),
                           load=lambda: Processor("vignette2", _gain, _Params))
    broken = SimpleNamespace(name="bad", value="nope:X", dist=None,
                             load=lambda: (_ for _ in ()).throw(ImportError("no module named nope")))
    clash = SimpleNamespace(name="clash", value="c:R", dist=SimpleNamespace(name="c"),
                            load=lambda: Processor("resize", _gain, _Params))
    reg = default_registry(plugins=False)
    discover_plugins(reg, entry_points=[good, broken, clash])
    assert reg.get("vignette2").origin == "plugin:pkg"
    assert reg.get("resize").origin == "postbay"
    problems = {p.entry_point: p.error for p in reg.problems}
    assert "ImportError: no module named nope" in problems["bad = nope:X"]
    assert "would replace" in problems["clash = c:R"]


def test_registry_rejects_bad_records():
    reg = Registry()
    with pytest.raises(ValueError, match="colourspace"):
        reg.register(Processor("x", _gain, _Params, colourspace="xyz"))
    with pytest.raises(PostbayError, match="unknown processor 'nope'"):
        reg.get("nope")
