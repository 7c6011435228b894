"""postbay's configuration: one TOML file, validated at the edge, with embedded defaults.

```toml
data_dir = "/var/lib/postbay"     # ledger, logs, temp; default: ./postbay-data
gpu = "auto"                      # auto | off | required
ocio_config = "ocio://studio-config-latest"
recipes = ["~/postbay/recipes"]   # folders of user recipes (win over built-ins)

[[watch]]                         # hot folders (see the daemon)
path = "/srv/drop/finish"
recipe = "finish"
[workers]
cpu = 1
[executor]                        # where jobs run: local (default) or ray (docs/cluster.md)
kind = "local"
[api]
port = 8765
```
Errors name the file and the key, and say how to fix it.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from postbay.errors import ConfigError, did_you_mean, plain_message

__all__ = ["DEFAULT_OCIO_CONFIG", "ApiConfig", "Config", "ExecutorConfig", "InspectConfig", "LimitsConfig",
           "NotifyConfig", "ScheduleConfig", "ServiceConfig", "WatchConfig", "WorkersConfig", "load_config",
           "parse_duration"]

#: The colour config when none is set: OCIO's built-in studio config (no file, nothing to fetch).
DEFAULT_OCIO_CONFIG = "ocio://studio-config-latest"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"``."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration like \"90s\", \"15m\", \"2h\"")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WatchConfig(_Section):
    """A hot folder: files dropped in ``path`` are finished with ``recipe`` into ``output``."""

    path: Path
    recipe: str
    output: Path | None = None
    after: Literal["move", "keep", "delete"] = "move"
    recursive: bool = False
    polling: Literal["auto", True, False] = "auto"
    settle_seconds: float = Field(default=5.0, ge=0)
    arrival_timeout: float = Field(default=600.0, ge=0)
    sequence_settle_seconds: float = Field(default=30.0, ge=0)  # a folder of frames: no frame added this long
    rate: str | None = None  # image sequences' (and EDLs') frame rate here; unset: the recipe's, else 24
    cron: str | None = None
    create: bool = False  # a missing folder is an error (an unmounted share) unless this says make it

    def output_dir(self) -> Path:
        """Where finished files go: ``output``, else ``<path>/../out/<folder name>``."""
        return self.output if self.output is not None else self.path.parent / "out" / self.path.name


    @field_validator("arrival_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> str | None:
        if value is None:
            return None
        try:
            ok = not isinstance(value, bool) and Fraction(str(value)) > 0
        except (ValueError, ZeroDivisionError):
            ok = False
        if not ok:
            raise ValueError(f"{value!r} is not a frame rate; give 24, 23.976 or \"24000/1001\"")
        return str(value)


class WorkersConfig(_Section):
    cpu: int = Field(default=1, ge=0)
    gpu: int = Field(default=1, ge=0)
    job_timeout: float = 7200.0
    heartbeat_timeout: float = 120.0
    retries: int = Field(default=2, ge=0)
    grace_seconds: float = 30.0
    cpu_per_job: int = Field(default=1, ge=1)  # CPUs a CPU job asks of a cluster executor

    @field_validator("job_timeout", "heartbeat_timeout", "grace_seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class ExecutorConfig(_Section):
    """Where jobs run: ``local`` (a process per job on this machine) or ``ray`` (a Ray cluster
    at ``address``; ``path_map`` maps this machine's shared-storage paths to the workers')."""

    kind: Literal["local", "ray"] = "local"
    address: str = "auto"
    path_map: dict[str, str] = Field(default_factory=dict)


class ScheduleConfig(_Section):
    recipe: str
    window: str | None = None
    cron: str | None = None


class ApiConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    token: str | None = None
    upload_limit_mb: int = Field(default=4096, gt=0)
    inbox: Path | None = None
    #: Host names the API answers to besides the address it binds and the loopback names
    #: (a DNS-rebinding page arrives with its own name in ``Host``).
    hosts: list[str] = Field(default_factory=list)
    #: Web origins (``https://review.example``) allowed to call the API from a browser,
    #: besides the dashboard's own.
    origins: list[str] = Field(default_factory=list)
    #: An upload that sends nothing for this long is dropped (a slow client holds a worker).
    upload_idle_seconds: float = Field(default=60.0, gt=0)
    #: Event streams open at once; more are answered 503.
    event_clients: int = Field(default=32, gt=0)

    def loopback(self) -> bool:
        """Whether ``host`` reaches this machine only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @field_validator("upload_idle_seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class LimitsConfig(_Section):
    """What one input may cost: decoded pixels per frame, and the free space new work needs."""

    #: Pixels in one decoded frame (width × height); default 8K × 8K. A PNG movie of
    #: 16000 × 16000 frames is a few MB on disk and 1 GB per frame in memory.
    max_pixels: int = Field(default=8192 * 8192, gt=0)
    #: New jobs wait while the data or output disk has less than this free.
    min_free_mb: int = Field(default=512, ge=0)


class InspectConfig(_Section):
    """The inspection every job gets of its source (see docs/inspect.md)."""

    #: Inspect every job's clip or timeline and keep ``NAME.inspect.json`` and ``.html`` beside its report.
    every_job: bool = True
    #: Listen for speech (Whisper) in a clip or shot that has sound, as part of that inspection.
    speech: bool = True


class ServiceConfig(_Section):
    """Resource limits written into the systemd unit (``postbay service install``)."""

    #: ``MemoryMax=`` of the unit: bytes with a K/M/G/T suffix, or a percentage of RAM.
    memory_max: str = Field(default="80%", pattern=r"^(\d+[KMGT]?|\d{1,3}%|infinity)$")
    #: ``TasksMax=``: threads and processes of the daemon and its workers together.
    tasks_max: int = Field(default=4096, gt=0)


#: How a job can end, as a webhook names it: ``skipped`` when its output existed (``existing_output = "skip"``).
JobEnding = Literal["done", "skipped", "failed"]
JOB_ENDINGS: tuple[JobEnding, ...] = ("done", "skipped", "failed")


class NotifyConfig(_Section):
    """A webhook: ``url`` gets a JSON POST when a job ends in one of ``events``."""

    url: str = Field(pattern=r"^https?://")
    events: list[JobEnding] = Field(default_factory=lambda: list(JOB_ENDINGS))
    timeout: float = Field(default=5.0, gt=0)
    retries: int = Field(default=3, ge=0)


class Config(_Section):
    """The whole configuration. Relative paths are relative to the config file's folder."""

    data_dir: Path = Path("postbay-data")
    gpu: Literal["auto", "off", "required"] = "auto"
    ocio_config: str = DEFAULT_OCIO_CONFIG
    recipes: list[Path] = Field(default_factory=list)
    media_roots: list[Path] = Field(default_factory=list)
    #: Folders a job submitted through the API may name as its ``out`` (besides the hot
    #: folders' outputs and ``<data_dir>/out``).
    output_roots: list[Path] = Field(default_factory=list)
    allow_plugin_override: bool = False
    rescan_minutes: float = Field(default=5.0, gt=0)
    retention_days: float | None = None
    watch: list[WatchConfig] = Field(default_factory=list)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    schedule: list[ScheduleConfig] = Field(default_factory=list)
    api: ApiConfig = Field(default_factory=ApiConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    inspect: InspectConfig = Field(default_factory=InspectConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    notify: list[NotifyConfig] = Field(default_factory=list)
    existing_output: Literal["version", "overwrite", "skip"] = "version"
    source: str = "<embedded defaults>"

    def inbox_dir(self) -> Path:
        """Where API uploads land: ``[api] inbox``, else ``<data_dir>/inbox``."""
        return self.api.inbox or self.data_dir / "inbox"

    def resolve_paths(self, base: Path) -> Config:
        """Make relative paths absolute against ``base`` (the config file's folder)."""

        def fix(p: Path | None) -> Path | None:
            if p is None:
                return None
            p = Path(p).expanduser()
            return p if p.is_absolute() else (base / p).resolve()

        data = self.model_copy(deep=True)
        data.data_dir = fix(data.data_dir)  # type: ignore[assignment]
        data.recipes = [fix(p) for p in data.recipes]  # type: ignore[misc]
        data.media_roots = [fix(p) for p in data.media_roots]  # type: ignore[misc]
        data.output_roots = [fix(p) for p in data.output_roots]  # type: ignore[misc]
        for w in data.watch:
            w.path = fix(w.path)  # type: ignore[assignment]
            w.output = fix(w.output)
        if data.api.inbox is not None:
            data.api.inbox = fix(data.api.inbox)
        if data.ocio_config and not data.ocio_config.startswith("ocio://"):
            data.ocio_config = str(fix(Path(data.ocio_config)))
        return data


def _section_models() -> dict[str, type[BaseModel]]:
    return {"watch": WatchConfig, "workers": WorkersConfig, "schedule": ScheduleConfig, "api": ApiConfig,
            "notify": NotifyConfig, "inspect": InspectConfig}


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = plain_message(err["msg"])
        if err["type"] == "extra_forbidden":
            section = _section_models().get(str(err["loc"][0]), Config) if len(err["loc"]) > 1 else Config
            guess = did_you_mean(str(err["loc"][-1]), section.model_fields).strip()
            msg = f"unknown key ({guess})" if guess else "unknown key"
        parts.append(f"{key}: {msg}")
    return "; ".join(parts)


def load_config(path: str | Path | None = None, *, base: Path | None = None) -> Config:
    """Load and validate a config file; ``None`` gives the embedded defaults (relative to cwd)."""
    if path is None:
        return Config().resolve_paths(base or Path.cwd())
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("config file not found", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    data.pop("source", None)
    try:
        cfg = Config(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), path=path, hint="every key is in docs/configuration.md") from None
    cfg.source = str(path)
    return cfg.resolve_paths(path.parent.resolve())
