"""The definition passes statelint and the template passes cfn-lint, as `make lint` and CI run them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from statelint.linter import Linter

from .conftest import ROOT, TEMPLATE_PATH

PLACEHOLDER_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:{name}"


def tool(name: str) -> str:
    """The tool installed beside this interpreter (the project's .venv), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make test` (it installs the dev dependencies)")
    return found


def test_the_definition_passes_statelint(asl_text: str, state_machine: dict[str, Any]) -> None:
    # Given the definition as deployed: every ${Var} replaced by an ARN of the right shape
    deployed = asl_text
    for variable in state_machine["DefinitionSubstitutions"]:
        deployed = deployed.replace("${" + variable + "}", PLACEHOLDER_ARN.format(name=variable))

    # When statelint checks it
    problems = Linter.validate(deployed)

    # Then it reports nothing
    assert problems == []


def test_the_definition_file_passes_statelint_as_make_lint_runs_it(asl_path: Path) -> None:
    # Given the definition file with its ${Var}s
    # When the statelint command checks it
    result = subprocess.run([tool("statelint"), str(asl_path)], capture_output=True, text=True, check=False)

    # Then it is clean
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_template_passes_cfn_lint_without_warnings() -> None:
    # Given template.yaml
    # When cfn-lint checks it (errors and warnings; informational hints excluded, as by default)
    result = subprocess.run(
        [tool("cfn-lint"), str(TEMPLATE_PATH.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    # Then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
