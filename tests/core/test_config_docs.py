"""docs/configuration.md covers every key the config accepts; the example config loads."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from postbay.config import (
    ApiConfig,
    Config,
    ExecutorConfig,
    InspectConfig,
    LimitsConfig,
    NotifyConfig,
    ScheduleConfig,
    ServiceConfig,
    WatchConfig,
    WorkersConfig,
    load_config,
)

ROOT = Path(__file__).resolve().parents[2]
SECTIONS: dict[str, type[BaseModel]] = {"Top level": Config, "`[[watch]]`": WatchConfig, "`[workers]`": WorkersConfig,
                                        "`[[schedule]]`": ScheduleConfig, "`[api]`": ApiConfig,
                                        "`[[notify]]`": NotifyConfig, "`[executor]`": ExecutorConfig,
                                        "`[limits]`": LimitsConfig, "`[service]`": ServiceConfig,
                                        "`[inspect]`": InspectConfig}


def test_every_config_key_is_documented_in_its_section():
    text = (ROOT / "docs" / "configuration.md").read_text()
    chapters = {m.group(1): m.group(2)
                for m in re.finditer(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)}
    for heading, model in SECTIONS.items():
        chapter = next(body for title, body in chapters.items() if title.startswith(heading))
        rows = set(re.findall(r"^\| `(\w+)` \|", chapter, re.MULTILINE))
        keys = set(model.model_fields) - {"source", "watch", "workers", "schedule", "api", "notify", "executor",
                                          "limits", "service", "inspect"}
        assert keys == rows, f"{heading}: undocumented {keys - rows}, documented but unknown {rows - keys}"


def test_the_example_bay_loads():
    config = load_config(ROOT / "examples" / "bay.toml")
    assert len(config.watch) == 3 and config.notify[0].events == ["failed"]
