"""What the operations tests share: one wheel built from this tree for the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from robodine.install.plan import build_wheel

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `robodine install` builds of this checkout."""
    return build_wheel(REPO, tmp_path_factory.mktemp("wheel"))
