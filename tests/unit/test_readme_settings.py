"""Every setting the platform reads is documented in README's Configuration section."""

from __future__ import annotations

from pathlib import Path

from mmsearch.infra.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def configuration_section() -> str:
    text = README.read_text()
    start = text.index("\n## Configuration")
    return text[start : text.index("\n## ", start + 1)]


def test_every_setting_has_a_row_in_the_configuration_table() -> None:
    rows = [line for line in configuration_section().splitlines() if line.startswith("| `")]
    documented = " ".join(row.split(" | ")[0] for row in rows)
    missing = [
        f"MMSEARCH_{name.upper()}"
        for name in Settings.model_fields
        if f"`MMSEARCH_{name.upper()}`" not in documented
    ]
    assert missing == [], f"settings without a row in README's Configuration table: {missing}"
