"""Run SAM's transform (`sam validate --language-extensions`) on template.yaml for every parameter
combination that changes what SAM generates, then cfn-lint through SAM (`sam validate --lint`).

`sam validate` takes no parameter values: the language extensions resolve each `!If` with the
parameters' defaults. So each combination is a copy of template.yaml whose `Default:` lines are
changed (plain text, no YAML loader), written inside the repository (.cache/validate/) so the
relative CodeUri and DefinitionUri still resolve. Standard library only:

    python3 tools/validate_combinations.py [--sam .venv-sam/bin/sam]

One line per combination; exit status 1 if SAM refuses any (its message follows the line).
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
WORK_DIR = ROOT / ".cache" / "validate"
MATRIX = {"ApiAuth": ["AWS_IAM", "API_KEY"], "LiveKitWebhooks": ["Enabled", "Disabled"]}
# Beyond the matrix: the other branch of the account-wide logging role, with the defaults otherwise.
EXTRA = [{"ApiGatewayCloudWatchRole": "Existing"}]


def with_defaults(text: str, values: dict[str, str]) -> str:
    """The template text with each named parameter's ``Default:`` line set to the given value."""
    lines = text.splitlines(keepends=True)
    start = lines.index("Parameters:\n")
    for name, value in values.items():
        header = next(i for i in range(start, len(lines)) if lines[i] == f"  {name}:\n")
        body = range(header + 1, len(lines))
        end = next((i for i in body if lines[i].strip() and not lines[i].startswith("    ")), len(lines))
        found = [i for i in range(header + 1, end) if re.match(r"^    Default: ", lines[i])]
        if len(found) != 1:
            raise SystemExit(f"template.yaml: parameter {name} has no single 'Default:' line")
        lines[found[0]] = f'    Default: "{value}"\n'
    return "".join(lines)


def combinations() -> list[dict[str, str]]:
    matrix = [dict(zip(MATRIX, chosen, strict=True)) for chosen in itertools.product(*MATRIX.values())]
    return matrix + EXTRA


def validate(sam: str, values: dict[str, str], env: dict[str, str]) -> tuple[bool, str, float]:
    name = "-".join(values.values())
    copy = WORK_DIR / f"template-{name}.yaml"
    copy.write_text(with_defaults(TEMPLATE.read_text(), values))
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own tool, our own arguments
        [sam, "validate", "--language-extensions", "--template-file", str(copy)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    output = "\n".join(
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "Feature Toggle Config" not in line  # SAM's notice about its own feature flags
    )
    return result.returncode == 0, output.strip(), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"), help="the sam command")
    args = parser.parse_args()
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    chosen = combinations()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda values: validate(args.sam, values, env), chosen))
    failed = 0
    for values, (ok, output, seconds) in zip(chosen, results, strict=True):
        label = " ".join(f"{key}={value}" for key, value in values.items())
        print(f"{'ok    ' if ok else 'FAILED'} {label:<60} ({seconds:.1f} s)")
        if not ok:
            failed += 1
            print("       " + output.replace("\n", "\n       "))
    if failed:
        print(f"SAM refused {failed} of {len(chosen)} combinations", file=sys.stderr)
        return 1
    lint = subprocess.run(  # noqa: S603
        [args.sam, "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    print(f"{'ok    ' if lint.returncode == 0 else 'FAILED'} sam validate --lint (cfn-lint) template.yaml")
    if lint.returncode != 0:
        print((lint.stdout + lint.stderr).strip())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
