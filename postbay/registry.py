"""Processor registry: each finishing step is a record with a typed parameter model.

A processor is a plain function plus what the pipeline needs to feed it:

``kind = "frame"``
    ``fn(frames, ctx, params) -> frame``. ``frames`` is the temporal window
    ``[n - before, …, n, …, n + after]`` (edges repeated at the clip's ends) as float32
    (H, W, 3) arrays on ``ctx.backend``; the current frame is ``frames[ctx.window[0]]``.
    Returns the output frame ``n``.
``kind = "stream"``
    ``fn(frames, ctx, params) -> iterator of frames``, for steps that change the frame count
    or carry state across a shot (retime, deflicker). They buffer at most ``window`` frames.
``kind = "audio"``
    ``fn(samples, rate, ctx, params) -> samples`` over (channels, n) float32 host arrays.

The pipeline, not the processor, buffers frames and converts colour to ``colourspace``; a
stream step that holds more frames than its window fails. A processor never opens a file:
``needs_cuts=True`` gets it the shot cuts, ``reads="PARAM"`` gets it the decoded media of the
file that parameter names (see :class:`StepContext`); ``adds_steps`` names the frame steps
its parameters add at the end of the recipe when it is parsed (captions → burn-in).
Built-ins register with :func:`processor`; other packages through the entry-point group
``postbay.processors`` (see :func:`discover_plugins`).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from importlib import metadata as importlib_metadata
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from postbay.backend import Backend
from postbay.colour import DEFAULT_OCIO_CONFIG
from postbay.errors import PostbayError, did_you_mean
from postbay.subtitles import Captions

__all__ = [
    "FrameFormat",
    "even_size",
    "ParamModel",
    "PluginProblem",
    "Processor",
    "Registry",
    "StepContext",
    "BUILTINS",
    "default_registry",
    "discover_plugins",
    "processor",
]

Kind = Literal["frame", "stream", "audio"]
ENTRY_POINT_GROUP = "postbay.processors"


class ParamModel(BaseModel):
    """Base of processor parameter models: unknown parameters are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(ParamModel):
    pass


def even_size(x: float | Fraction) -> int:
    """A picture dimension rounded to the nearest even number (4:2:0 and 4:2:2 need one), at least 2."""
    return max(2, int(round(x / 2)) * 2)


@dataclass(frozen=True)
class FrameFormat:
    """What flows between steps: picture size, pixel aspect, frame rate and frame count."""

    width: int
    height: int
    rate: Fraction
    frames: int
    sample_aspect_ratio: Fraction = Fraction(1)

    @property
    def display_aspect_ratio(self) -> Fraction:
        return self.sample_aspect_ratio * Fraction(self.width, self.height)

    def with_size(self, width: int, height: int, keep_display_aspect: bool = True) -> FrameFormat:
        """Same display aspect at a new storage size, unless told otherwise (a reframe)."""
        sar = Fraction(1)
        if keep_display_aspect:
            sar = self.display_aspect_ratio * Fraction(height, width)
            if abs(sar - 1) < Fraction(1, 200):
                sar = Fraction(1)
        return replace(self, width=int(width), height=int(height), sample_aspect_ratio=sar)

    def fit(self, width: int | None, height: int | None) -> FrameFormat:
        """A new size from a width, a height or both; one alone keeps the display aspect (square pixels out)."""
        if width is None and height is None:
            raise ValueError("give a width, a height or both")
        if width is None:
            assert height is not None
            width = even_size(height * self.display_aspect_ratio)
        if height is None:
            height = even_size(width / self.display_aspect_ratio)
        return self.with_size(width, height)


@dataclass
class StepContext:
    """What a processor knows about the clip it runs on; it never opens a file itself.

    ``info`` is the source's probe (or None for synthetic frames); ``notes`` is where a
    processor leaves figures for the report (a measured CDL, frames repaired…). The rest is
    handed in by the render or the pipeline, each for the steps that declare they need it:

    ``cuts``
        frames of the rendered range where a new shot starts (``needs_cuts`` steps): found by
        :mod:`postbay.cuts`, or the edit's own cuts when a timeline gives them.
    ``reference``
        the decoded pictures, (N, H, W, 3) float32 display RGB, of the file a ``reads`` picture
        step names (match's reference), or the hero shot a timeline hands in.
    ``music``
        the decoded sound, (channels, n) float32 at the clip's rate, of the file a ``reads``
        audio step names (bed's music).
    ``captions``
        the captions step's result, read by the burn-in step and by the render (sidecars).
    ``frame_index``
        frame steps: the number of the output frame being made.
    ``ocio_config``
        the OpenColorIO config the job converts colour with.
    """

    backend: Backend
    fmt_in: FrameFormat
    fmt_out: FrameFormat
    window: tuple[int, int] = (0, 0)
    step_index: int = 0
    info: Any = None
    seed: int = 0
    cuts: tuple[int, ...] = ()
    reference: np.ndarray | None = None
    music: np.ndarray | None = None
    captions: Captions | None = None
    frame_index: int = 0
    ocio_config: str = DEFAULT_OCIO_CONFIG
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def xp(self) -> Any:
        return self.backend.xp


def _identity_format(params: Any, fmt: FrameFormat) -> FrameFormat:
    return fmt


@dataclass(frozen=True)
class Processor:
    """The record every processor (built-in or plugin) registers."""

    name: str
    function: Callable[..., Any]
    params: type[ParamModel] = NoParams
    kind: Kind = "frame"
    window: tuple[int, int] | Callable[[Any], tuple[int, int]] = (0, 0)
    colourspace: str = "display"
    output_format: Callable[[Any, FrameFormat], FrameFormat] = _identity_format
    changes_size: bool = False
    changes_rate: bool = False
    version: str = "1"
    origin: str = "postbay"
    backends: tuple[str, ...] = ("cpu", "gpu")
    summary: str = ""
    needs_cuts: bool = False
    reads: str | None = None
    adds_steps: Callable[[Any], list[tuple[str, dict[str, Any]]]] | None = None

    def window_for(self, params: Any) -> tuple[int, int]:
        """Frames needed before and after the current one, for these parameters."""
        win = self.window(params) if callable(self.window) else self.window
        return int(win[0]), int(win[1])

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: for `postbay processors` and the API."""
        fields = {}
        for fname, f in self.params.model_fields.items():
            fields[fname] = {
                "type": _type_name(f.annotation),
                "default": None if f.is_required() else _jsonable(f.default),
                "required": f.is_required(),
                "description": f.description or "",
            }
        return {
            "name": self.name, "summary": self.summary, "kind": self.kind, "version": self.version,
            "origin": self.origin, "colourspace": self.colourspace,
            "window": None if callable(self.window) else list(self.window),
            "changes_size": self.changes_size, "changes_rate": self.changes_rate,
            "backends": list(self.backends), "needs_cuts": self.needs_cuts, "reads": self.reads,
            "parameters": fields,
        }

    def validate(self) -> None:
        """Raise ValueError when the record is not one the pipeline can run."""
        if not self.name or not self.name.replace("-", "_").isidentifier():
            raise ValueError(f"processor name {self.name!r} must be a short identifier")
        if not callable(self.function):
            raise ValueError(f"processor {self.name}: function is not callable")
        if not (isinstance(self.params, type) and issubclass(self.params, BaseModel)):
            raise ValueError(f"processor {self.name}: params must be a pydantic model class")
        if self.kind not in ("frame", "stream", "audio"):
            raise ValueError(f"processor {self.name}: kind {self.kind!r} is not frame, stream or audio")
        if self.colourspace not in ("display", "linear", "acescct"):
            raise ValueError(f"processor {self.name}: colourspace {self.colourspace!r} is not display, linear "
                             "or acescct")
        if not callable(self.window):
            win = self.window
            if not (isinstance(win, (tuple, list)) and len(win) == 2
                    and all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in win)):
                raise ValueError(f"processor {self.name}: window {win!r} must be (frames before, frames after), "
                                 "two whole numbers >= 0, or a function of the parameters")
        if self.adds_steps is not None and not callable(self.adds_steps):
            raise ValueError(f"processor {self.name}: adds_steps is not callable")
        if not callable(self.output_format):
            raise ValueError(f"processor {self.name}: output_format is not callable")
        if not self.backends or not set(self.backends) <= {"cpu", "gpu"}:
            raise ValueError(f"processor {self.name}: backends {self.backends!r} must be \"cpu\", \"gpu\" or both")
        if self.reads is not None and self.reads not in self.params.model_fields:
            raise ValueError(f"processor {self.name}: reads {self.reads!r} is not one of its parameters")
        if not isinstance(self.version, str) or not self.version:
            raise ValueError(f"processor {self.name}: version must be a non-empty string such as \"1.0\"")


def _type_name(annotation: Any) -> str:
    """A parameter's type as a recipe author writes it: ``float``, ``"soft" | "hard"``,
    ``{slope, offset, power, sat} | str`` (a table's keys, never an internal class name)."""
    if annotation is None or annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(f"\"{a}\"" if isinstance(a, str) else repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "{" + ", ".join(annotation.model_fields) + "}"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


#: Built-in processor records, filled by the modules of ``postbay.processors`` on import.
BUILTINS: list[Processor] = []


def processor(name: str, *, params: type[ParamModel] = NoParams, kind: Kind = "frame",
              window: tuple[int, int] | Callable[[Any], tuple[int, int]] = (0, 0), colourspace: str = "display",
              output_format: Callable[[Any, FrameFormat], FrameFormat] | None = None,
              changes_size: bool = False, changes_rate: bool = False, version: str = "1",
              backends: tuple[str, ...] = ("cpu", "gpu"), needs_cuts: bool = False,
              reads: str | None = None,
              adds_steps: Callable[[Any], list[tuple[str, dict[str, Any]]]] | None = None,
              ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that records a built-in processor; the docstring's first line is its summary."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = inspect.getdoc(fn) or ""
        BUILTINS.append(Processor(
            name=name, function=fn, params=params, kind=kind, window=window, colourspace=colourspace,
            output_format=output_format or _identity_format, changes_size=changes_size,
            changes_rate=changes_rate, version=version, origin="postbay", backends=backends,
            summary=doc.splitlines()[0] if doc else "", needs_cuts=needs_cuts, reads=reads,
            adds_steps=adds_steps,
        ))
        return fn

    return register


@dataclass
class PluginProblem:
    """A plugin that failed to load: reported by the CLI and the API, never silently skipped."""

    entry_point: str
    error: str


class Registry:
    """Processors by name. Built-ins first; plugins cannot replace them unless allowed."""

    def __init__(self, processors: Iterable[Processor] = ()):
        self._by_name: dict[str, Processor] = {}
        self.problems: list[PluginProblem] = []
        for proc in processors:
            self.register(proc)

    def register(self, proc: Processor, *, replace_builtin: bool = False) -> None:
        proc.validate()
        existing = self._by_name.get(proc.name)
        if existing is not None and not (replace_builtin or existing.origin == proc.origin):
            raise ValueError(f"processor {proc.name!r} from {proc.origin} would replace the one from "
                             f"{existing.origin}; set allow_plugin_override in the config to allow it")
        self._by_name[proc.name] = proc

    def get(self, name: str) -> Processor:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise PostbayError(f"unknown processor {name!r}",
                               hint=f"{did_you_mean(name, self._by_name)}known processors: {known}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(sorted(self._by_name.values(), key=lambda p: p.name))

    def names(self) -> list[str]:
        return sorted(self._by_name)


def discover_plugins(registry: Registry, *, allow_override: bool = False,
                     entry_points: Iterable[Any] | None = None) -> None:
    """Load processors that other packages declare under the entry-point group.

    An entry point may name a :class:`Processor`, a list of them, or a module with a
    ``PROCESSORS`` list. A plugin that fails to import, declares a bad record or would
    replace a built-in (without ``allow_override``) is recorded in ``registry.problems``
    (and so reported by ``postbay processors`` and the API's ``/processors``) and skipped
    whole: none of its records are registered, so a recipe never half-uses a broken plugin.
    """
    eps = entry_points if entry_points is not None else importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in eps:
        label = f"{ep.name} = {ep.value}"
        try:
            obj = ep.load()
            records = getattr(obj, "PROCESSORS", obj)
            if isinstance(records, Processor):
                records = [records]
            records = list(records) if isinstance(records, (list, tuple)) else []
            if not records or not all(isinstance(r, Processor) for r in records):
                raise TypeError("must name a postbay.registry.Processor, a list of them, "
                                "or a module with a PROCESSORS list")
            dist = getattr(getattr(ep, "dist", None), "name", None) or ep.value.split(":")[0]
            records = [replace(r, origin=f"plugin:{dist}") for r in records]
            trial = Registry(registry)  # all of a plugin's records, or none of them
            for record in records:
                trial.register(record, replace_builtin=allow_override)
            for record in records:
                registry.register(record, replace_builtin=allow_override)
        except (Exception, SystemExit) as exc:  # a broken plugin (even one calling exit()) must never take postbay down
            registry.problems.append(PluginProblem(label, f"{type(exc).__name__}: {exc}"))


@functools.cache
def _builtin_registry() -> Registry:
    import postbay.processors  # noqa: F401  (registers the built-ins)

    return Registry(BUILTINS)


def default_registry(*, plugins: bool = True, allow_override: bool = False) -> Registry:
    """A fresh registry with the built-ins and, unless told otherwise, installed plugins."""
    reg = Registry(_builtin_registry())
    if plugins:
        discover_plugins(reg, allow_override=allow_override)
    return reg
