"""What CloudFormation deploys of a SAM template, for given parameter values, made by AWS's own code.

Runs under the SAM CLI's Python (``.venv-sam``, see tools/sam-requirements.txt), not the project's:
SAM CLI pins boto3 and pydantic at versions the project does not share. The local engine calls it as
a subprocess (local_engine/stack.py) and caches the answer.

The steps are those of ``sam package`` + ``sam deploy`` + CloudFormation:

1. local ``CodeUri``/``DefinitionUri`` become ``s3://`` locations (what ``sam package`` uploads; the
   answer maps each back to its local path);
2. parameters are checked against ``AllowedValues``/``AllowedPattern`` and defaults filled in, as
   CloudFormation does before any transform;
3. ``AWS::LanguageExtensions`` is expanded with those values (SAM CLI's implementation of the
   transform: ``samcli.lib.cfn_language_extensions``);
4. ``AWS::Serverless-2016-10-31`` is applied by aws-sam-translator (the library behind CloudFormation's
   own SAM transform). A template SAM refuses exits with status 2 and SAM's message.

Usage: ``python sam_translate.py TEMPLATE [--parameters JSON] [--region R] [--account-id A]
[--stack-name S]``; prints ``{"template": ..., "artifacts": {"s3://...": "local/path"}, "parameters":
{...}}`` on stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

ARTIFACT_BUCKET = "dispatch-verify-local-artifacts"
_PACKAGED = {  # resource type -> property that `sam package` uploads when it names a local path
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class TemplateRefused(Exception):
    """What CloudFormation or SAM would answer to this template and these parameters."""


def package(template: dict[str, Any], directory: Path) -> dict[str, str]:
    """Replace local artifact paths by ``s3://`` URIs in place; return URI -> local path."""
    artifacts: dict[str, str] = {}

    def packaged(value: Any) -> Any:
        if not isinstance(value, str) or value.startswith("s3://"):
            return value
        path = (directory / value).resolve()
        if not path.exists():
            raise TemplateRefused(f"artifact {value!r} does not exist (resolved to {path})")
        uri = f"s3://{ARTIFACT_BUCKET}/{path.relative_to(directory.resolve()).as_posix() or '.'}"
        artifacts[uri] = str(path)
        return uri

    globals_function = (template.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = packaged(globals_function["CodeUri"])
    for resource in (template.get("Resources") or {}).values():
        key = _PACKAGED.get(str(resource.get("Type")))
        properties = resource.get("Properties") or {}
        if key and key in properties:
            properties[key] = packaged(properties[key])
    return artifacts


def parameter_values(
    template: dict[str, Any], given: dict[str, str], fill: str | None = None
) -> dict[str, str]:
    """Every declared parameter's value: given, else its default (else ``fill``, when the caller
    supplies the value only later); checked as CloudFormation checks."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateRefused(f"Parameters: {unknown} do not exist in the template")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in given:
            value = str(given[name])
        elif "Default" in spec:
            value = str(spec["Default"])
        elif fill is not None:
            value = fill
        else:
            raise TemplateRefused(f"Parameters: [{name}] must have values")
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(item) for item in allowed]:
            raise TemplateRefused(f"Parameter '{name}' must be one of AllowedValues")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise TemplateRefused(
                f"Parameter '{name}' failed to satisfy constraint: "
                f"{spec.get('ConstraintDescription') or 'Malformed input-Parameter ' + name}"
            )
        values[name] = value
    return values


def check_rules(template: dict[str, Any], values: dict[str, str]) -> None:
    """The template's ``Rules``, as CloudFormation checks them before creating anything: each rule whose
    ``RuleCondition`` holds must have every ``Assert`` hold, else the stack is refused with the
    assertion's description. The rule functions evaluated: Fn::Equals, Fn::Not, Fn::And, Fn::Or,
    Fn::Contains and Ref (a parameter); any other is refused rather than guessed."""

    def value(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return values[arg]
            if fn == "Fn::Equals":
                return str(value(arg[0])) == str(value(arg[1]))
            if fn == "Fn::Not":
                return not value(arg[0])
            if fn == "Fn::And":
                return all(value(a) for a in arg)
            if fn == "Fn::Or":
                return any(value(a) for a in arg)
            if fn == "Fn::Contains":
                return str(value(arg[1])) in [str(value(a)) for a in value(arg[0])]
            raise TemplateRefused(f"Rules: the local engine does not evaluate {fn}")
        if isinstance(node, list):
            return [value(item) for item in node]
        return node

    for name, rule in (template.get("Rules") or {}).items():
        if "RuleCondition" in rule and not value(rule["RuleCondition"]):
            continue
        for assertion in rule.get("Assertions") or []:
            if not value(assertion["Assert"]):
                raise TemplateRefused(assertion.get("AssertDescription") or f"Rule {name} failed")


_DEFERRED_SUB = "Fn::Sub (deferred past LanguageExtensions)"


def _rename_subs(node: Any, old: str, new: str, deferred: Any) -> Any:
    """Rename the ``old`` key of the single-key Fn::Sub nodes for which ``deferred(argument)`` holds."""
    if isinstance(node, list):
        return [_rename_subs(item, old, new, deferred) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1 and old in node and deferred(node[old]):
        return {new: _rename_subs(node[old], old, new, deferred)}
    return {key: _rename_subs(value, old, new, deferred) for key, value in node.items()}


def defer_resource_subs(template: dict[str, Any], parameters: set[str]) -> dict[str, Any]:
    """Hide from the LanguageExtensions expansion each Fn::Sub that names more than parameters.

    SAM CLI's expansion (1.170.0) substitutes what it can of such a Fn::Sub and returns a plain
    string, dropping the Fn::Sub around the ``${Resource.Attr}`` it kept: a policy Resource
    ``arn:...:execution:${StateMachine.Name}:*`` then reaches IAM as that literal text, where
    CloudFormation would have substituted it. CloudFormation resolves these at deployment anyway.
    """

    def names_more(argument: Any) -> bool:
        if not isinstance(argument, str):
            return True  # a variable map: its values may name resources
        variables = re.findall(r"\$\{([^}!][^}]*)\}", argument)
        return any(name not in parameters and not name.startswith("AWS::") for name in variables)

    return {
        key: (_rename_subs(value, "Fn::Sub", _DEFERRED_SUB, names_more) if key != "Parameters" else value)
        for key, value in template.items()
    }


def restore_subs(template: dict[str, Any]) -> dict[str, Any]:
    restored = _rename_subs(template, _DEFERRED_SUB, "Fn::Sub", lambda _argument: True)
    assert isinstance(restored, dict)
    return restored


def translate(
    template_path: Path,
    given: dict[str, str],
    *,
    region: str,
    account_id: str,
    stack_name: str,
    fill: str | None = None,
) -> dict[str, Any]:
    import boto3
    from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions
    from samcli.yamlhelper import yaml_parse
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = yaml_parse(template_path.read_text())
    artifacts = package(template, template_path.parent)
    values = parameter_values(template, given, fill)
    check_rules(template, values)
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": stack_name,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    hidden = defer_resource_subs(copy.deepcopy(template), set(values))
    expanded = expand_language_extensions(hidden, {**pseudo, **values}, enabled=True)
    sam_template = restore_subs(expanded.expanded_template) if expanded.had_language_extensions else template
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=boto3.session.Session(region_name=region),
    )
    try:
        translated = translator.translate(
            sam_template=sam_template,
            parameter_values={**values, **pseudo},
            get_managed_policy_map=dict,  # the template names managed policies by ARN only
        )
    except InvalidDocumentException as exc:
        raise TemplateRefused(" ".join(cause.message for cause in exc.causes) or str(exc)) from exc
    return {"template": translated, "artifacts": artifacts, "parameters": values, "pseudo": pseudo}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--parameters", default="{}", help="JSON object of parameter values")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--account-id", default="123456789012")
    parser.add_argument("--stack-name", default="local")
    parser.add_argument("--fill-missing", help="value of parameters that have neither a value nor a default")
    args = parser.parse_args(argv)
    try:
        answer = translate(
            args.template.resolve(),
            json.loads(args.parameters),
            region=args.region,
            account_id=args.account_id,
            stack_name=args.stack_name,
            fill=args.fill_missing,
        )
    except TemplateRefused as exc:
        print(f"template refused: {exc}", file=sys.stderr)
        return 2
    json.dump(answer, sys.stdout, indent=1, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
