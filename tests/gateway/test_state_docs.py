from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_docs_states_md_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "state_diagrams", ROOT / "scripts" / "state_diagrams.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "states.md").read_text() == module.render(), (
        "run: python scripts/state_diagrams.py"
    )
    assert "en_route --> at_table" in module.render()
