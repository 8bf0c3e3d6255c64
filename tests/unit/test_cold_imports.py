"""A cold start pays only for what it uses: no X-Ray where tracing is off, no boto3 until a call.

Each spec imports in a fresh interpreter (this one has long imported everything) with a deployed
function's environment: ``LAMBDA_TASK_ROOT`` set, which is how Powertools knows it runs in Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import stack_view

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("aws_xray_sdk", "boto3", "botocore.exceptions", "botocore.session")
# Handlers that still import a heavy module at module level: the handler's own change, not this one's.
KNOWN_HEAVY: dict[str, str] = {}  # modules known to import a HEAVY one, with why


def imported_after(code: str, **env: str) -> list[str]:
    """The HEAVY modules in sys.modules after running ``code`` in a fresh Lambda-like interpreter."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    environment.update({"PYTHONPATH": str(ROOT / "functions"), "LAMBDA_TASK_ROOT": "/var/task"})
    environment.update({"AWS_REGION": "us-east-1", **env})
    environment = {k: v for k, v in environment.items() if v}  # "": unset
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, cwd=ROOT, capture_output=True, text=True, check=True
    )
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_with_tracing_disabled_the_observability_module_imports_no_x_ray() -> None:
    # Given a deployed function with POWERTOOLS_TRACE_DISABLED=true
    # When the handlers' shared Logger/Tracer/Metrics module is imported
    found = imported_after(
        "from dispatch_verify import observability\nassert observability.tracer.powertools is None",
        POWERTOOLS_TRACE_DISABLED="true",
    )

    # Then nothing of the X-Ray SDK was imported
    assert "aws_xray_sdk" not in found


def test_outside_lambda_the_observability_module_imports_no_x_ray() -> None:
    # Given no LAMBDA_TASK_ROOT (a test, a local engine): Powertools' rule says tracing is off
    found = imported_after(
        "from dispatch_verify import observability\nassert observability.tracer.powertools is None",
        LAMBDA_TASK_ROOT="",
    )

    # Then importing the module imports no X-Ray either
    assert "aws_xray_sdk" not in found


def test_with_tracing_on_the_handlers_are_traced_by_powertools() -> None:
    # Given a deployed function where Powertools traces (no POWERTOOLS_TRACE_DISABLED)
    # When the module is imported
    found = imported_after(
        "from aws_lambda_powertools import Tracer\nfrom dispatch_verify import observability\n"
        "assert isinstance(observability.tracer.powertools, Tracer)"
    )

    # Then the tracer is Powertools' own, with the X-Ray SDK behind it
    assert "aws_xray_sdk" in found


def test_an_untraced_handler_is_the_function_itself() -> None:
    # Given the tracer where tracing is off
    from dispatch_verify.observability import Tracing

    def handler(event: dict[str, object], context: object) -> dict[str, object]:
        return event

    # When a handler is decorated, Then it is returned unchanged
    assert Tracing(None).capture_lambda_handler(handler) is handler


def test_importing_the_aws_adapters_and_config_imports_no_boto3() -> None:
    # Given every AWS adapter and the configuration module
    modules = ["clients", "executions", "ledger", "outcome_events", "waits", "webhook_events"]
    code = "\n".join(f"import dispatch_verify.adapters.aws.{m}" for m in modules)

    # When they are imported
    found = imported_after(code + "\nimport dispatch_verify.config", POWERTOOLS_TRACE_DISABLED="true")

    # Then neither boto3 nor botocore's sessions or exceptions came with them
    assert found == []


def test_the_first_client_imports_boto3() -> None:
    # Given the adapters imported without boto3
    # When the first client is asked for
    found = imported_after(
        "from dispatch_verify.adapters.aws import clients\nclients.client('dynamodb')",
        POWERTOOLS_TRACE_DISABLED="true",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )

    # Then boto3 is imported then, by the call
    assert {"boto3", "botocore.session"} <= set(found)


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(f.short, marks=pytest.mark.xfail(strict=True, reason=KNOWN_HEAVY[f.short]))
        if f.short in KNOWN_HEAVY
        else f.short
        for f in stack_view.functions(stack_view.load_template())
    ],
)
def test_a_handler_imported_with_tracing_disabled_imports_no_x_ray_and_no_boto3(handler: str) -> None:
    # Given a function of the template, deployed with tracing disabled
    # When its handler module is imported (its cold start)
    found = imported_after(f"import dispatch_verify.handlers.{handler}", POWERTOOLS_TRACE_DISABLED="true")

    # Then neither X-Ray nor boto3 (nor botocore's sessions or exceptions) was imported
    assert found == []


def test_the_credentials_schema_is_built_by_their_first_use_not_by_the_import() -> None:
    # Given config imported in a fresh interpreter
    code = (
        "from dispatch_verify import config\n"
        "assert not config.LiveKitCredentials.__pydantic_complete__, 'built at import'\n"
        "made = config.LiveKitCredentials(url='wss://x', api_key='k', api_secret='s')\n"
        "assert config.LiveKitCredentials.__pydantic_complete__ and made.api_key == 'k'"
    )

    # When the credentials are first made, Then their schema is built then (the script's asserts)
    imported_after(code, POWERTOOLS_TRACE_DISABLED="true")


def probe(code: str, **env: str) -> object:
    """What ``code`` leaves in ``result``, run in a fresh Lambda-like interpreter (tracing off), as JSON."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    environment.update({"PYTHONPATH": str(ROOT / "functions"), "LAMBDA_TASK_ROOT": "/var/task"})
    environment.update({"AWS_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", **env})
    script = f"import json, sys\n{code}\nprint(json.dumps(result))"
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("handler", [f.short for f in stack_view.functions(stack_view.load_template())])
def test_a_handler_import_runs_no_collection_and_ends_with_its_objects_frozen(handler: str) -> None:
    # Given a function of the template, in a fresh interpreter whose collector is on
    code = (
        "import gc\n"
        "on_at_start = gc.isenabled()\n"
        "import dispatch_verify.handlers\n"  # what a cold start imports first: the package turns it off
        "before = sum(s['collections'] for s in gc.get_stats())\n"
        f"import dispatch_verify.handlers.{handler}\n"
        "after = sum(s['collections'] for s in gc.get_stats())\n"
        "result = {'collections': after - before, 'enabled': gc.isenabled(),\n"
        "          'frozen': gc.get_freeze_count(), 'on_at_start': on_at_start}"
    )

    # When its handler module is imported (the cold start)
    found = probe(code)

    # Then no garbage collection ran during the import, and at its end the collector is on again with
    # the import's objects frozen (tens of thousands of them), out of every later collection's walk
    assert isinstance(found, dict)
    assert found["on_at_start"] is True
    assert found["collections"] == 0
    assert found["enabled"] is True
    assert found["frozen"] > 10_000


def test_the_api_function_imports_livekit_only_for_a_cancel() -> None:
    # Given the API function (POST and GET never talk to LiveKit; DELETE does)
    code = (
        "import dispatch_verify.handlers.api as api\n"
        "heavy = ('livekit', 'aiohttp', 'google.protobuf')\n"
        "at_import = sorted(m for m in heavy if m in sys.modules)\n"
        "try:\n"
        "    api._connect_livekit()\n"
        "except Exception:\n"
        "    pass  # no credentials here: the import is what this looks at\n"
        "result = {'at_import': at_import, 'at_cancel': sorted(m for m in heavy if m in sys.modules)}"
    )

    # When its handler is imported, and then a cancel connects to LiveKit
    found = probe(code)

    # Then the import brought none of livekit-api, aiohttp or protobuf; the cancel brought them
    assert found == {"at_import": [], "at_cancel": ["aiohttp", "google.protobuf", "livekit"]}


def test_the_webhook_function_imports_none_of_the_workflow_models() -> None:
    # Given the LiveKit webhook function (it verifies, marks waits and resumes tokens)
    code = (
        "import dispatch_verify.handlers.livekit_webhook\n"
        "workflow = ('dispatch_verify.models', 'dispatch_verify.api_models')\n"
        "result = sorted(m for m in workflow if m in sys.modules)"
    )

    # When its handler is imported, Then neither the workflow's models nor the dispatch API's came with it
    assert probe(code) == []


def test_every_model_builds_its_validator_at_first_use_not_at_import() -> None:
    # Given every pydantic model of the functions' code, imported in a fresh interpreter
    code = (
        "import importlib\n"
        "from pydantic import BaseModel\n"
        "names = ('models', 'api_models', 'config')\n"
        "mods = [importlib.import_module(f'dispatch_verify.{m}') for m in names]\n"
        "found = [v for m in mods for v in vars(m).values()\n"
        "         if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == m.__name__]\n"
        "built = sorted(v.__name__ for v in found if v.__pydantic_complete__)\n"
        "result = {'models': len(found), 'built': built}"
    )

    # When nothing has used them yet
    found = probe(code)

    # Then none is built (a built one imported importlib.metadata and looked for plugins at import)
    assert isinstance(found, dict)
    assert found["models"] >= 25
    assert found["built"] == []
