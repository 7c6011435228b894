"""Recipes: a TOML chain of processors and the deliveries they render to.

```toml
name = "finish"
description = "…"
[[steps]]
processor = "upscale"      # a registered processor name
height = 1080              # that processor's parameters
[output]
codec = "prores_hq"        # an encode preset (postbay.media.PRESETS)
container = "mov"          # optional, the preset's default otherwise
audio = "copy"             # copy | pcm | aac | none
```

A recipe used on a timeline may also set ``handles`` (frames each side), ``missing``
("fail" or "skip") and ``rate`` (an EDL's frame rate, and an image sequence's) at its top level
(:class:`TimelineOptions`).

Built-in recipes ship in ``postbay/recipes/``; user recipes are found by path or by name in
the configured recipe folders (which win over built-ins of the same name). Validation
happens at load time and names the file, the step and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from postbay.errors import RecipeError, did_you_mean, plain_message
from postbay.media import PRESETS
from postbay.registry import ParamModel, Processor, Registry, default_registry

__all__ = [
    "AutoOptions","Delivery", "OutputSpec", "Recipe", "Step", "TimelineOptions", "builtin_recipe_paths", "find_recipes",
           "load_recipe", "parse_recipe"]


class _Encoded(BaseModel):
    """What every rendered file names: an encode preset and, optionally, its container."""

    model_config = ConfigDict(extra="forbid")

    codec: str = "prores_hq"
    container: str | None = None

    @field_validator("codec")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown codec preset {value!r}; presets: {', '.join(PRESETS)}")
        return value

    def resolved_container(self) -> str:
        preset = PRESETS[self.codec]
        container = self.container or preset.container
        if container not in preset.containers:
            raise ValueError(f"{self.codec} cannot be written in {container}; use {', '.join(preset.containers)}")
        return container


class OutputSpec(_Encoded):
    """How the finished clip is written."""

    audio: Literal["copy", "pcm", "aac", "none"] = "copy"
    verify: Literal["fast", "full"] = "fast"
    suffix: str = ""
    #: Numbered frames instead of a movie (see postbay.sequence_writer): the codec is then unused.
    sequence: Literal["exr", "exr32", "png", "tiff", "dpx"] | None = None
    sequence_start: int | None = Field(default=None, ge=0, description="first frame number of a sequence output")


class Delivery(_Encoded):
    """One programme render of a timeline (16:9 master, 9:16 vertical, …)."""

    name: str
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    aspect: Literal["16:9", "9:16", "1:1", "4:5"] | None = None
    audio: Literal["copy", "pcm", "aac", "none"] = "pcm"
    captions: bool = False


class TimelineOptions(BaseModel):
    """How a recipe conforms a timeline: top-level ``handles``, ``missing`` and ``rate`` of the recipe.

    Unset fields are None, so a command-line flag, then the conform's default, decides.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    handles: int | None = Field(default=None, ge=0, strict=True,
                                description="frames rendered beyond each edit point, for trims in the NLE")
    missing: Literal["fail", "skip"] | None = Field(default=None, description="what a clip without media does")
    rate: int | float | str | None = Field(default=None, description="an EDL's or an image sequence's frame rate "
                                          "(24, 23.976, \"24000/1001\")")
    bundle: Literal["otioz", "otiod"] | None = Field(
        default=None, description="also write the conformed timeline as an OTIO bundle holding the finished shots")

    @field_validator("rate")
    @classmethod
    def _positive_rate(cls, value: int | float | str | None) -> int | float | str | None:
        if value is None:
            return value
        try:
            ok = Fraction(value) > 0 and not isinstance(value, bool)
        except (ValueError, ZeroDivisionError):
            ok = False
        if not ok:
            raise ValueError(f"{value!r} is not a frame rate; give 24, 23.976 or \"24000/1001\"")
        return value


@dataclass(frozen=True)
class Step:
    """A processor with its validated parameters."""

    index: int
    processor: Processor
    params: ParamModel
    added_by: int | None = None  # the index of the step whose parameters added this one

    @property
    def name(self) -> str:
        return self.processor.name

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"processor": self.name, "origin": self.processor.origin,
                               "version": self.processor.version, "parameters": self.params.model_dump(mode="json")}
        if self.added_by is not None:
            out["added_by"] = self.added_by
        return out


class AutoOptions(BaseModel):
    """The ``[auto]`` table: inspect each clip and run only the steps it needs (:mod:`postbay.auto`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    height: int | None = Field(default=1080, gt=0, description="delivery lines; a smaller clip is upscaled to them")
    loudness: float | None = Field(default=-14.0, ge=-40, le=-5,
                                   description="integrated loudness target in LUFS; None leaves the sound alone")


@dataclass
class Recipe:
    name: str
    description: str
    steps: list[Step]
    output: OutputSpec
    deliveries: list[Delivery] = field(default_factory=list)
    source: str = "<memory>"
    timeline: TimelineOptions = field(default_factory=TimelineOptions)
    auto: AutoOptions | None = None  # set: the steps are chosen per clip by inspecting it first

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source,
                "steps": [s.describe() for s in self.steps], "output": self.output.model_dump(mode="json"),
                "deliveries": [d.model_dump(mode="json") for d in self.deliveries]}


_TOP_KEYS = {"name", "description", "steps", "output", "deliveries", "auto", *TimelineOptions.model_fields}


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(value)"


def _pydantic_message(exc: ValidationError, prefix: str) -> str:
    parts = []
    for err in exc.errors():
        where = _field_path(err["loc"])
        msg = plain_message(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "unknown parameter"
        parts.append(f"{prefix}{where}: {msg}")
    return "; ".join(parts)


def parse_recipe(data: dict[str, Any], *, source: str = "<memory>", registry: Registry | None = None) -> Recipe:
    """Validate a recipe's TOML data; errors name ``source``, the step and the field."""
    registry = registry or default_registry()
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise RecipeError(f"unknown key(s) {', '.join(sorted(unknown))}", path=source,
                          hint=f"a recipe has {', '.join(sorted(_TOP_KEYS))}")
    name = data.get("name") or Path(source).stem
    if not isinstance(name, str):
        raise RecipeError("name must be a string", path=source)
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list):
        raise RecipeError("steps must be an array of tables ([[steps]])", path=source)
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps, start=1):
        if not isinstance(raw, dict) or "processor" not in raw:
            raise RecipeError(f"step {i}: needs processor = \"<name>\"", path=source,
                              hint="list processors with `postbay processors`")
        pname = raw["processor"]
        if pname not in registry:
            raise RecipeError(f"step {i}: unknown processor {pname!r}", path=source,
                              hint=f"{did_you_mean(str(pname), registry.names())}"
                                   f"known processors: {', '.join(registry.names())}")
        proc = registry.get(pname)
        values = {k: v for k, v in raw.items() if k != "processor"}
        try:
            params = proc.params(**values)
        except ValidationError as exc:
            raise RecipeError(_pydantic_message(exc, f"step {i} ({pname}): "), path=source) from None
        steps.append(Step(i, proc, params))
    for step in list(steps):  # e.g. captions with burn = true adds the burn-in, run last on the picture
        for pname, values in step.processor.adds_steps(step.params) if step.processor.adds_steps else ():
            added = registry.get(pname)
            steps.append(Step(len(steps) + 1, added, added.params(**values), added_by=step.index))
    try:
        output = OutputSpec(**data.get("output", {}))
        output.resolved_container()
    except ValidationError as exc:
        raise RecipeError(_pydantic_message(exc, "output."), path=source) from None
    except ValueError as exc:
        raise RecipeError(f"output: {exc}", path=source) from None
    deliveries = []
    for i, raw in enumerate(data.get("deliveries", []), start=1):
        try:
            deliveries.append(Delivery(**raw))
        except ValidationError as exc:
            raise RecipeError(_pydantic_message(exc, f"delivery {i}: "), path=source) from None
    try:
        timeline = TimelineOptions(**{k: data[k] for k in TimelineOptions.model_fields if k in data})
    except ValidationError as exc:
        raise RecipeError(_pydantic_message(exc, ""), path=source,
                          hint='handles is a whole number of frames >= 0, missing is "fail" or "skip"') from None
    try:
        auto = AutoOptions(**data["auto"]) if "auto" in data else None
    except (ValidationError, TypeError) as exc:
        message = _pydantic_message(exc, "auto.") if isinstance(exc, ValidationError) else f"auto: {exc}"
        raise RecipeError(message, path=source, hint="[auto] takes height (lines) and loudness (LUFS)") from None
    return Recipe(name=name, description=str(data.get("description", "")), steps=steps, output=output,
                  deliveries=deliveries, source=source, timeline=timeline, auto=auto)


def builtin_recipe_paths() -> dict[str, Path]:
    folder = resources.files("postbay") / "recipes"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".toml")}


def find_recipes(search_dirs: list[Path] | tuple[Path, ...] = ()) -> dict[str, Path]:
    """Recipe name → file: built-ins, then each configured folder (later folders win)."""
    found = builtin_recipe_paths()
    for folder in search_dirs:
        folder = Path(folder).expanduser()
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = path
    return found


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise RecipeError("recipe file not found", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"not valid TOML: {exc}", path=path) from None
    except OSError as exc:
        raise RecipeError(f"cannot read: {exc.strerror}", path=path) from None


def load_recipe(name_or_path: str | Path, *, search_dirs: list[Path] | tuple[Path, ...] = (),
                registry: Registry | None = None) -> Recipe:
    """Load a recipe by name (built-in or from ``search_dirs``) or by path to a TOML file."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.endswith(".toml") or path.exists() or "/" in text:
        if not path.exists():
            raise RecipeError("recipe file not found", path=path)
        return parse_recipe(_read_toml(path), source=str(path), registry=registry)
    known = find_recipes(search_dirs)
    if text not in known:
        raise RecipeError(f"unknown recipe {text!r}",
                          hint=f"{did_you_mean(text, known)}known recipes: {', '.join(sorted(known))}")
    recipe = parse_recipe(_read_toml(known[text]), source=str(known[text]), registry=registry)
    return recipe
