"""The checkov configuration `make checkov` runs: every skipped check is a real one and says why."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from .conftest import ROOT

CONFIG = ROOT / ".checkov.yaml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECK_ID = re.compile(r"CKV2?_AWS_[0-9]+")
SKIP_LINE = re.compile(r"^\s*-\s*(?P<id>\S+)\s*(?:#\s*(?P<reason>.*?))?\s*$")


def skip_lines() -> list[re.Match[str]]:
    """The ``skip-check`` list items as written (a reason is a comment, which a YAML loader drops)."""
    lines = CONFIG.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("skip-check:"))
    items = []
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith((" ", "-")):
            break  # the next top-level key
        if line.strip().startswith("-"):
            match = SKIP_LINE.match(line)
            assert match, line
            items.append(match)
    return items


def test_every_skipped_check_is_named_as_checkov_names_it_and_says_why() -> None:
    # Given the skip list as the YAML loader and as the text read it
    loaded = yaml.safe_load(CONFIG.read_text())
    items = skip_lines()

    # When the ids and reasons are compared
    ids = [m["id"] for m in items]

    # Then the text holds every skipped id once, each a checkov AWS id with a reason of some words on
    # its own line, and the configuration checks the template as CloudFormation
    assert ids == loaded["skip-check"]
    assert len(set(ids)) == len(ids)
    assert all(CHECK_ID.fullmatch(i) for i in ids), ids
    assert all(m["reason"] and len(m["reason"].split()) >= 5 for m in items), [m.string for m in items]
    assert loaded["file"] == ["template.yaml"]
    assert loaded["framework"] == ["cloudformation"]


def test_every_skipped_check_exists_in_the_installed_checkov() -> None:
    # Given the checks checkov knows for CloudFormation (its own virtual environment: `make checkov`)
    assert CHECKOV.exists(), (
        "checkov is not installed: make test installs it (make .venv-checkov/.installed-stamp)"
    )
    listed = subprocess.run(
        [str(CHECKOV), "--list", "--framework", "cloudformation"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        cwd=Path("/"),  # not the repository: its .checkov.yaml would apply to the listing
    ).stdout
    known = set(CHECK_ID.findall(listed))

    # When the skipped ids are looked up
    unknown = [m["id"] for m in skip_lines() if m["id"] not in known]

    # Then each is a CloudFormation check of that version
    assert unknown == []
