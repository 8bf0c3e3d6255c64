"""Reads the SAM template and builds its resources in moto (public AWS APIs only, through boto3).

``Template.load`` parses CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub``, ...) into their
long form. ``provision`` creates topics, event buses, tables, functions and state machines in moto
and returns a ``Stack`` whose ``resolve`` turns intrinsics into local values: ``!GetAtt Fn.Arn`` is
``arn:aws:lambda:<region>:<account>:function:<LogicalId>``, ``!Ref Topic`` the topic ARN, ``!Ref Bus``
the bus name, ``!Ref Table`` the table name, ``!Ref Parameter`` a value given by the caller.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
_SHORT_TAGS = [
    "Ref", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or", "FindInMap", "Base64",
    "GetAZs", "ImportValue", "Cidr", "Condition", "Transform", "ToJsonString", "Length",
]  # fmt: skip


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """A YAML loader that understands CloudFormation's short-form intrinsic functions."""


def _intrinsic(tag: str) -> Any:
    key = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {key: value}

    return construct


for _tag in [*_SHORT_TAGS, "GetAtt"]:
    CfnLoader.add_constructor(f"!{_tag}", _intrinsic(_tag))


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    code_uri: Path
    environment: dict[str, Any]  # unresolved: values may be intrinsics
    timeout_s: int
    memory_mb: int


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    definition: str  # the ASL text before substitution
    substitutions: dict[str, Any]  # unresolved
    type: str


@dataclass
class Template:
    path: Path
    body: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> Template:
        path = Path(path).resolve()
        body = yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
        return cls(path=path, body=body)

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.body.get("Resources") or {})

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res.get("Type") in types}

    def functions(self) -> dict[str, FunctionSpec]:
        defaults = (self.body.get("Globals") or {}).get("Function") or {}
        specs = {}
        for lid, res in self.of_type("AWS::Serverless::Function").items():
            props = {**defaults, **(res.get("Properties") or {})}
            env = {
                **((defaults.get("Environment") or {}).get("Variables") or {}),
                **(((res.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
            }
            specs[lid] = FunctionSpec(
                logical_id=lid,
                handler=props["Handler"],
                code_uri=(self.directory / str(props.get("CodeUri", "."))).resolve(),
                environment=env,
                timeout_s=int(props.get("Timeout", 3)),
                memory_mb=int(props.get("MemorySize", 128)),
            )
        return specs

    def state_machines(self) -> dict[str, StateMachineSpec]:
        specs = {}
        for lid, res in self.of_type("AWS::Serverless::StateMachine").items():
            props = res.get("Properties") or {}
            if "DefinitionUri" in props:
                definition = (self.directory / str(props["DefinitionUri"])).read_text()
            else:
                definition = json.dumps(props["Definition"])
            specs[lid] = StateMachineSpec(
                logical_id=lid,
                definition=definition,
                substitutions=dict(props.get("DefinitionSubstitutions") or {}),
                type=str(props.get("Type", "STANDARD")),
            )
        return specs


@dataclass
class Stack:
    """Local physical values of the template's resources, and the intrinsic resolver over them."""

    region: str
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)  # logical id -> topic ARN
    buses: dict[str, str] = field(default_factory=dict)  # logical id -> bus name
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> ARN

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        (key, arg), = value.items()  # fmt: skip
        if key == "Ref":
            return self._ref(arg)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._get_att(logical_id, attribute)
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self._sub_var(m.group(1), extra)), text)
        if key == "Fn::Join":
            return str(arg[0]).join(str(self.resolve(part)) for part in arg[1])
        if key == "Fn::Select":
            return self.resolve(arg[1])[int(self.resolve(arg[0]))]
        if key == "Fn::Split":
            return str(self.resolve(arg[1])).split(arg[0])
        if key.startswith("Fn::") or key == "Condition":
            raise ValueError(f"intrinsic {key} is not supported by the local engine")
        return {key: self.resolve(arg)}

    def _sub_var(self, name: str, extra: dict[str, Any]) -> Any:
        if name in extra:
            return extra[name]
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return self._get_att(logical_id, attribute)
        return self._ref(name)

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": "local",
            "AWS::URLSuffix": "amazonaws.com",
        }
        for table in (pseudo, self.parameters, self.refs):
            if name in table:
                return table[name]
        raise KeyError(f"!Ref {name}: no such parameter or resource in the template")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise KeyError(f"!GetAtt {logical_id}.{attribute}: not known to the local engine") from None


def create_table(template: Template, session: Any, logical_id: str) -> str:
    """Create one of the template's DynamoDB tables from its own definition; return its name."""
    resource = template.resources[logical_id]
    stack = Stack(region=session.region_name, parameters=parameter_defaults(template))
    name = stack.resolve((resource.get("Properties") or {}).get("TableName")) or logical_id
    stack.tables[logical_id] = name
    _create_table(session.client("dynamodb"), stack, logical_id, resource)
    return str(name)


def parameter_defaults(template: Template) -> dict[str, str]:
    params = template.body.get("Parameters") or {}
    return {name: str(spec["Default"]) for name, spec in params.items() if "Default" in spec}


def function_arn(region: str, logical_id: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{logical_id}"


def provision(template: Template, session: Any, parameters: dict[str, str] | None = None) -> Stack:
    """Create the template's resources in (moto's) AWS through ``session`` (a boto3 Session)."""
    region = session.region_name
    stack = Stack(region=region, parameters={**parameter_defaults(template), **(parameters or {})})
    arn = f"{region}:{ACCOUNT_ID}"
    role_arn = _dummy_role(session)
    functions = template.functions()
    # Names and ARNs first, so that any resource may refer to any other.
    for lid in functions:
        stack.refs[lid] = lid
        stack.attributes[(lid, "Arn")] = function_arn(region, lid)
    for lid, res in template.of_type("AWS::SNS::Topic").items():
        name = stack.resolve((res.get("Properties") or {}).get("TopicName")) or lid
        stack.topics[lid] = stack.refs[lid] = f"arn:aws:sns:{arn}:{name}"
        stack.attributes.update({(lid, "TopicArn"): stack.refs[lid], (lid, "TopicName"): name})
    for lid, res in template.of_type("AWS::Events::EventBus").items():
        name = stack.resolve((res.get("Properties") or {}).get("Name")) or lid
        stack.buses[lid] = stack.refs[lid] = name
        stack.attributes.update({(lid, "Arn"): f"arn:aws:events:{arn}:event-bus/{name}", (lid, "Name"): name})
    for lid, res in template.of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable").items():
        name = stack.resolve((res.get("Properties") or {}).get("TableName")) or lid
        stack.tables[lid] = stack.refs[lid] = name
        stack.attributes[(lid, "Arn")] = f"arn:aws:dynamodb:{arn}:table/{name}"
    for lid in template.state_machines():
        stack.refs[lid] = f"arn:aws:states:{arn}:stateMachine:{lid}"
        stack.attributes.update({(lid, "Arn"): stack.refs[lid], (lid, "Name"): lid})

    sns, events = session.client("sns"), session.client("events")
    for lid in stack.topics:
        sns.create_topic(Name=stack.attributes[(lid, "TopicName")])
    for name in stack.buses.values():
        events.create_event_bus(Name=name)
    for lid, res in template.of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable").items():
        _create_table(session.client("dynamodb"), stack, lid, res)
    lam = session.client("lambda")
    for spec in functions.values():
        lam.create_function(
            FunctionName=spec.logical_id,
            Runtime="python3.12",
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": _dummy_zip()},
            Timeout=spec.timeout_s,
            MemorySize=spec.memory_mb,
        )
    sfn = session.client("stepfunctions")
    for lid, sm in template.state_machines().items():
        definition = substitute(sm.definition, stack.resolve(sm.substitutions), lid)
        created = sfn.create_state_machine(name=lid, definition=definition, roleArn=role_arn, type=sm.type)
        stack.state_machines[lid] = created["stateMachineArn"]
    return stack


def substitute(definition: str, values: dict[str, Any], what: str = "definition") -> str:
    """Fill ``${Var}`` like DefinitionSubstitutions; an unfilled one is an error, not a surprise later."""
    for key, value in values.items():
        definition = definition.replace("${" + key + "}", str(value))
    missing = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
    if missing:
        raise ValueError(f"{what}: no DefinitionSubstitutions for {', '.join(missing)}")
    return definition


def _create_table(dynamodb: Any, stack: Stack, logical_id: str, res: dict[str, Any]) -> None:
    props = stack.resolve(res.get("Properties") or {})
    if res["Type"] == "AWS::Serverless::SimpleTable":
        key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        kind = {"String": "S", "Number": "N", "Binary": "B"}[key["Type"]]
        props = {
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    table_name = stack.tables[logical_id]
    args: dict[str, Any] = {
        key: props[key]
        for key in ("KeySchema", "AttributeDefinitions", "ProvisionedThroughput", "StreamSpecification")
        if key in props
    }
    args["BillingMode"] = props.get(
        "BillingMode", "PROVISIONED" if "ProvisionedThroughput" in props else "PAY_PER_REQUEST"
    )
    for index_key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(index_key):
            args[index_key] = props[index_key]
    dynamodb.create_table(TableName=table_name, **args)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"],
                "Enabled": bool(ttl.get("Enabled", True)),
            },
        )


def _dummy_role(session: Any) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = session.client("iam").create_role(
        RoleName="local-engine", AssumeRolePolicyDocument=json.dumps(trust)
    )
    return str(role["Role"]["Arn"])


def _dummy_zip() -> bytes:
    """moto stores the code; the bridge runs the real handler from the CodeUri instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "placeholder.py", "# the local engine runs the handler from the template's CodeUri\n"
        )
    return buffer.getvalue()
