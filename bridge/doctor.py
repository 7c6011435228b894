"""``postbay doctor``: is this machine ready to run the bay? One line per check, with the fix.

Each check returns a :class:`Check` (``OK``, ``WARN`` or ``FAIL``, what was found, and what to
do about it). ``FAIL`` means the daemon would not start or jobs would fail; ``WARN`` means it
runs, but not as well as it could (no GPU, little disk, an encoder missing).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Literal

from postbay.config import Config

__all__ = ["Check", "diagnose"]

#: Encoders the built-in recipes and presets use, and what each is for.
ENCODERS = {"libx264": "H.264 review files", "prores_ks": "ProRes masters", "dnxhd": "DNxHR masters",
            "ffv1": "lossless archive", "aac": "AAC audio", "pcm_s24le": "PCM audio in masters"}
#: Free space below which a folder gets a warning, and below which it fails (bytes).
DISK_WARN, DISK_FAIL = 20 << 30, 1 << 30


@dataclass(frozen=True)
class Check:
    """One line of the diagnosis."""

    status: Literal["OK", "WARN", "FAIL"]
    name: str
    found: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<14} {self.found}" + (f"  -> {self.fix}" if self.fix else "")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def diagnose(config: Config) -> list[Check]:
    """Every check, in the order a user fixes things."""
    checks: list[Check] = []
    for step in _STEPS:
        try:
            checks.extend(step(config))
        except Exception as exc:  # noqa: BLE001 (a broken probe is itself the finding)
            checks.append(Check("FAIL", step.__name__.lstrip("_"), f"{type(exc).__name__}: {exc}"))
    return checks


def _python(config: Config) -> Iterator[Check]:
    # an older Python cannot import postbay at all (requires-python): only say which one runs
    yield Check("OK", "python", f"{'.'.join(map(str, sys.version_info[:3]))} ({sys.executable})")


def _ffmpeg(config: Config) -> Iterator[Check]:
    import av

    libs = av.library_versions.get("libavcodec", ())
    yield Check("OK", "pyav", f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, libs))}")
    missing = [f"{name} ({use})" for name, use in ENCODERS.items() if name not in av.codecs_available]
    if missing:
        yield Check("WARN", "encoders", "missing: " + ", ".join(missing),
                    "install a PyAV wheel built with these encoders (pip install --force-reinstall av)")
    else:
        yield Check("OK", "encoders", ", ".join(ENCODERS))


def _ocio(config: Config) -> Iterator[Check]:
    from postbay.colour import load_config
    from postbay.errors import PostbayError

    try:
        ocio = load_config(config.ocio_config)
    except PostbayError as exc:
        yield Check("FAIL", "ocio", str(exc), "set ocio_config to a config.ocio path or ocio://studio-config-latest")
        return
    yield Check("OK", "ocio", f"{config.ocio_config} ({len(list(ocio.getColorSpaceNames()))} colour spaces)")


def _whisper(config: Config) -> Iterator[Check]:
    try:
        from postbay.processors.captions import default_model_path

        path = default_model_path()
    except ImportError as exc:
        yield Check("WARN", "whisper", f"no speech model ({exc.name} not installed): captions steps fail",
                    "pip install 'postbay[captions]', or give the step model = \"/path/to/model\"")
        return
    yield Check("OK", "whisper", path)


def _gpu(config: Config) -> Iterator[Check]:
    from postbay.backend import cupy_available

    if config.gpu == "off":
        yield Check("OK", "gpu", "off in the config: CPU workers only")
    elif cupy_available():
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        yield Check("OK", "gpu", f"{name}, {props['totalGlobalMem'] / (1 << 30):.0f} GiB (CuPy {cupy.__version__})")
    else:
        status: Literal["WARN", "FAIL"] = "FAIL" if config.gpu == "required" else "WARN"
        yield Check(status, "gpu", "no usable CUDA device (or CuPy not installed): steps run on the CPU",
                    "install cupy-cuda12x and an NVIDIA driver, or set gpu = \"off\"")


def _disk(config: Config) -> Iterator[Check]:
    folders = {"data_dir": config.data_dir}
    for i, w in enumerate(config.watch):
        folders.setdefault(f"watch[{i}].output", w.output_dir())
    seen: set[int] = set()
    for key, folder in folders.items():
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None:
            continue
        device = existing.stat().st_dev
        if device in seen:
            continue
        seen.add(device)
        free = shutil.disk_usage(existing).free
        text = f"{free / (1 << 30):.1f} GiB free at {folder} ({key})"
        if free < DISK_FAIL:
            yield Check("FAIL", "disk", text, "free space there, or point it at a bigger disk")
        elif free < DISK_WARN:
            yield Check("WARN", "disk", text, "a few long ProRes masters fill this; free some space")
        else:
            yield Check("OK", "disk", text)


def _folders(config: Config) -> Iterator[Check]:
    if not config.watch:
        yield Check("OK", "watch", "no [[watch]] folders: the daemon makes one per recipe under data_dir")
    for i, w in enumerate(config.watch):
        key = f"watch[{i}]"
        create = getattr(w, "create", False)
        if not w.path.is_dir():
            if create:
                yield Check("OK", key, f"{w.path} does not exist yet; created at start (create = true)")
            else:
                yield Check("FAIL", key, f"{w.path} does not exist (a share not mounted?)",
                            "mount it, create it, or set create = true for a local folder")
            continue
        if not os.access(w.path, os.W_OK | os.X_OK):
            yield Check("FAIL", key, f"{w.path} is not writable (sources move to done/ and failed/)",
                        "give the daemon's user write access")
            continue
        from postbay.daemon.watcher import mount_type, uses_polling

        mode = "polling" if uses_polling(w) else "inotify"
        yield Check("OK", key, f"{w.path} ({mount_type(w.path) or '?'}, {mode}) -> {w.recipe}")


def _port(config: Config) -> Iterator[Check]:
    if not config.api.enabled:
        yield Check("OK", "api", "disabled in the config")
        return
    from postbay.daemon.state import running_daemons
    from postbay.errors import PostbayError

    from .api import api_port_free

    address = f"{config.api.host}:{config.api.port}"
    try:
        api_port_free(config)
    except PostbayError as exc:
        ours = [d for d in running_daemons() if (d.get("api") or "").endswith(f":{config.api.port}")]
        if ours:
            yield Check("OK", "api", f"{address} served by the running daemon (pid {ours[0]['pid']})")
        else:
            yield Check("FAIL", "api", exc.message, exc.hint or "")
        return
    yield Check("OK", "api", f"{address} is free")


def _settings(config: Config) -> Iterator[Check]:
    from postbay.daemon.settings import check_config
    from postbay.errors import PostbayError

    try:
        check_config(config)
    except PostbayError as exc:
        yield Check("FAIL", "config", str(exc), "see docs/configuration.md")
        return
    yield Check("OK", "config", str(config.source or "embedded defaults"))


_STEPS: list[Callable[[Config], Iterator[Check]]] = [_python, _ffmpeg, _ocio, _whisper, _gpu, _settings, _folders,
                                                     _disk, _port]
