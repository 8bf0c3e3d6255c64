"""The local stack: what CloudFormation would create of the template, created in moto.

``translate`` asks AWS's own code (local_engine/sam_translate.py, run under the SAM CLI's Python) for the
CloudFormation that ``sam deploy`` hands over: ``AWS::LanguageExtensions`` resolved for the given
parameters, ``AWS::Serverless-2016-10-31`` applied by aws-sam-translator. A template SAM refuses is
refused here too (``TemplateRefused``), with SAM's message. Answers are cached by content.

``provision`` then creates that plain CloudFormation in moto through boto3, in dependency order, as
CloudFormation does: roles with their inline and managed policies, functions (their code is the
packaged folder on disk), tables, KMS keys, topics, buses, log groups, the state machine (its
definition from the packaged file with ``DefinitionSubstitutions`` filled), schedules, alarms. The API
(``AWS::ApiGateway::RestApi`` and its OpenAPI ``Body``) is kept resolved for the local API server. A
resource type the engine does not know is an error, never silently skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
STACK_NAME = "local"
TRANSLATOR = Path(__file__).resolve().parent / "sam_translate.py"
SAM_REQUIREMENTS = ROOT / "tools" / "sam-requirements.txt"
CACHE_DIR = ROOT / ".cache" / "sam-translate"
# A parameter without a default that the engine fills itself (the LiveKit secret): SAM copies
# parameter values into policies, so the real ARN, known only once moto runs, replaces this one.
PLACEHOLDER_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:secret:local-engine-placeholder-0PLACE"
NOT_LOCAL = {  # types the local engine records but does not create: no local counterpart is needed
    "AWS::ApiGateway::Account",  # an account-wide logging setting
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::CloudWatch::Dashboard",
    "AWS::Lambda::Permission",
}


class TemplateRefused(Exception):
    """The template, with these parameters, would not deploy: SAM's transform or CloudFormation
    refuses it (the message is theirs)."""


@dataclass(frozen=True)
class Translated:
    template: dict[str, Any]  # plain CloudFormation
    artifacts: dict[str, str]  # s3://bucket/key -> local path (what `sam package` uploads)
    parameters: dict[str, str]  # every parameter's value, defaults included
    pseudo: dict[str, str]  # AWS::Region, AWS::AccountId, AWS::StackName, ...

    def resources(self, *types: str) -> dict[str, dict[str, Any]]:
        return {
            lid: res
            for lid, res in (self.template.get("Resources") or {}).items()
            if not types or res.get("Type") in types
        }

    def replace(self, old: str, new: str) -> Translated:
        """The same stack with a parameter's placeholder value replaced everywhere it was copied."""
        swap: Callable[[Any], Any] = lambda value: json.loads(json.dumps(value).replace(old, new))  # noqa: E731
        return Translated(swap(self.template), self.artifacts, swap(self.parameters), self.pseudo)


def sam_python() -> Path:
    """The Python of the SAM CLI's virtual environment (``DISPATCH_VERIFY_SAM_PYTHON`` overrides)."""
    configured = os.environ.get("DISPATCH_VERIFY_SAM_PYTHON", "").strip()
    path = Path(configured) if configured else ROOT / ".venv-sam" / "bin" / "python"
    if not path.exists():
        raise RuntimeError(
            f"SAM's translator is not installed ({path} is missing): run `make .venv-sam/.installed-stamp` "
            "(make test and make demo do it), or set DISPATCH_VERIFY_SAM_PYTHON to a Python with "
            "tools/sam-requirements.txt installed"
        )
    return path


_memo: dict[str, Translated] = {}
_memo_lock = threading.Lock()


def translate(
    template_path: str | Path, parameters: dict[str, str] | None = None, *, region: str = "us-east-1"
) -> Translated:
    """The CloudFormation SAM makes of ``template_path`` for ``parameters`` (defaults filled in)."""
    path = Path(template_path).resolve()
    given = {key: str(value) for key, value in sorted((parameters or {}).items())}
    key = _cache_key(path, given, region)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    cached = CACHE_DIR / f"{key}.json"
    if cached.exists():
        answer = json.loads(cached.read_text())
    else:
        completed = subprocess.run(  # noqa: S603 - our own script, arguments are not a shell line
            [
                str(sam_python()),
                str(TRANSLATOR),
                str(path),
                "--parameters",
                json.dumps(given),
                "--region",
                region,
                "--account-id",
                ACCOUNT_ID,
                "--stack-name",
                STACK_NAME,
                "--fill-missing",
                PLACEHOLDER_ARN,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode == 2:
            raise TemplateRefused(completed.stderr.strip().removeprefix("template refused: "))
        if completed.returncode != 0:
            raise RuntimeError(f"SAM's translator failed:\n{completed.stderr}")
        answer = json.loads(completed.stdout)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(completed.stdout)
        temporary.replace(cached)  # atomic: parallel test workers may translate the same template
    translated = Translated(answer["template"], answer["artifacts"], answer["parameters"], answer["pseudo"])
    with _memo_lock:
        _memo[key] = translated
    return translated


def _cache_key(path: Path, given: dict[str, str], region: str) -> str:
    digest = hashlib.sha256()
    for part in (path.read_bytes(), TRANSLATOR.read_bytes(), SAM_REQUIREMENTS.read_bytes()):
        digest.update(hashlib.sha256(part).digest())
    # Artifact paths are absolute in the answer: a clone elsewhere is another key.
    digest.update(json.dumps([str(path), given, region]).encode())
    return digest.hexdigest()[:32]


# -- CloudFormation's intrinsic functions over the local stack -----------------------------------
NO_VALUE = object()


@dataclass
class Stack:
    """The created resources: physical ids, attributes, and the resolver of intrinsics over them."""

    translated: Translated
    region: str
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)  # resolved, per logical id
    conditions: dict[str, bool] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, str]:
        return self.translated.parameters

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        """Created (or recorded) resources of these types: logical id -> resolved properties."""
        return {
            lid: props
            for lid, props in self.properties.items()
            if self.translated.template["Resources"][lid]["Type"] in types
        }

    def physical(self, *types: str) -> dict[str, str]:
        return {lid: self.refs[lid] for lid in self.of_type(*types)}

    @property
    def topics(self) -> dict[str, str]:
        return self.physical("AWS::SNS::Topic")

    @property
    def buses(self) -> dict[str, str]:
        return self.physical("AWS::Events::EventBus")

    @property
    def tables(self) -> dict[str, str]:
        return self.physical("AWS::DynamoDB::Table")

    @property
    def state_machines(self) -> dict[str, str]:
        return self.physical("AWS::StepFunctions::StateMachine")

    def resolve(self, value: Any) -> Any:
        resolved = self._resolve(value)
        return None if resolved is NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self._resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            function = _INTRINSICS.get(key)
            if function is not None:
                return function(self, arg)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            body = (self.translated.template.get("Conditions") or {}).get(name)
            if body is None:
                raise TemplateRefused(f"Template error: unresolved condition dependency {name}")
            self.conditions[name] = bool(self._resolve(body))
        return self.conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        for table in (self.translated.pseudo, self.translated.parameters, self.refs):
            if name in table:
                return table[name]
        raise TemplateRefused(f"Template format error: Unresolved resource dependencies [{name}]")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise TemplateRefused(
                f"Template error: resource {logical_id} does not support attribute {attribute} locally"
            ) from None

    def sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self._resolve(arg[1]))

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the text ${Literal}
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", variable, text)


def _get_att(stack: Stack, arg: Any) -> Any:
    logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
    return stack.get_att(logical_id, stack.resolve(attribute))


def _if(stack: Stack, arg: list[Any]) -> Any:
    name, when_true, when_false = arg
    return stack._resolve(when_true if stack.condition(name) else when_false)


def _find_in_map(stack: Stack, arg: list[Any]) -> Any:
    name, first, second = (stack.resolve(part) for part in arg[:3])
    return stack.translated.template["Mappings"][name][str(first)][str(second)]


_INTRINSICS: dict[str, Callable[[Stack, Any], Any]] = {
    "Ref": lambda stack, arg: stack.ref(arg),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": lambda stack, arg: stack.sub(arg),
    "Fn::Join": lambda stack, arg: str(arg[0]).join(str(part) for part in stack.resolve(arg[1])),
    "Fn::Select": lambda stack, arg: stack.resolve(arg[1])[int(stack.resolve(arg[0]))],
    "Fn::Split": lambda stack, arg: str(stack.resolve(arg[1])).split(arg[0]),
    "Fn::If": _if,
    "Fn::FindInMap": _find_in_map,
    "Fn::Equals": lambda stack, arg: str(stack.resolve(arg[0])) == str(stack.resolve(arg[1])),
    "Fn::And": lambda stack, arg: all(stack._resolve(item) for item in arg),
    "Fn::Or": lambda stack, arg: any(stack._resolve(item) for item in arg),
    "Fn::Not": lambda stack, arg: not stack._resolve(arg[0]),
    "Condition": lambda stack, arg: stack.condition(arg),
    "Fn::ToJsonString": lambda stack, arg: json.dumps(stack.resolve(arg), separators=(",", ":")),
}


# -- provisioning ----------------------------------------------------------------------------------
def creation_order(resources: dict[str, dict[str, Any]]) -> list[str]:
    """Logical ids so that each comes after what it references (Ref, GetAtt, Sub, DependsOn);
    a cycle is refused as CloudFormation refuses it."""
    names = set(resources)

    def references(value: Any, found: set[str]) -> set[str]:
        if isinstance(value, list):
            for item in value:
                references(item, found)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key == "Ref" and item in names:
                    found.add(item)
                elif key == "Fn::GetAtt":
                    target = item[0] if isinstance(item, list) else str(item).split(".", 1)[0]
                    found.add(target)
                elif key == "Fn::Sub":
                    text = item if isinstance(item, str) else item[0]
                    for variable in re.findall(r"\$\{([^}!][^}]*)\}", text):
                        head = variable.split(".", 1)[0]
                        if head in names:
                            found.add(head)
                    references(item if isinstance(item, str) else item[1], found)
                else:
                    references(item, found)
        return found

    depends = {}
    for lid, resource in resources.items():
        explicit = resource.get("DependsOn") or []
        explicit = [explicit] if isinstance(explicit, str) else explicit
        depends[lid] = (references(resource.get("Properties") or {}, set()) | set(explicit)) - {lid}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(lid: str, path: list[str]) -> None:
        if lid in order:
            return
        if lid in visiting:
            raise TemplateRefused(f"Circular dependency between resources: {path}")
        visiting.add(lid)
        for dependency in sorted(depends[lid]):
            if dependency in resources:
                visit(dependency, [*path, dependency])
        visiting.discard(lid)
        order.append(lid)

    for lid in sorted(resources):
        visit(lid, [lid])
    return order


def provision(translated: Translated, session: Any) -> Stack:
    """Create ``translated``'s resources in (moto's) AWS through ``session`` (a boto3 Session)."""
    stack = Stack(translated=translated, region=session.region_name)
    session = _ClientCache(session)
    resources = translated.resources()
    for lid in creation_order(resources):
        resource = resources[lid]
        if "Condition" in resource and not stack.condition(resource["Condition"]):
            continue
        kind = str(resource["Type"])
        properties = stack.resolve(resource.get("Properties") or {})
        stack.properties[lid] = properties
        create = _CREATORS.get(kind)
        if create is not None:
            create(session, stack, lid, properties)
        elif kind in NOT_LOCAL:
            stack.refs[lid] = f"{lid}-local"
        else:
            raise TemplateRefused(
                f"the local engine cannot create {lid} ({kind}): teach local_engine/stack.py"
            )
    return stack


class _ClientCache:
    """A boto3 session whose clients are made once (making one parses its service model)."""

    def __init__(self, session: Any) -> None:
        self.region_name = session.region_name
        self._session = session
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service)
        return self._clients[service]


def managed_policy_arns(translated: Translated) -> list[str]:
    """The managed policies the template's roles attach (SAM names AWS's by ARN)."""
    return sorted(
        {
            arn
            for role in translated.resources("AWS::IAM::Role").values()
            for arn in (role.get("Properties") or {}).get("ManagedPolicyArns") or []
            if isinstance(arn, str)
        }
    )


def physical_name(stack: Stack, lid: str, limit: int = 64) -> str:
    """A generated name as CloudFormation makes one: stack name, logical id, unique suffix."""
    suffix = hashlib.sha256(f"{STACK_NAME}/{lid}".encode()).hexdigest()[:12].upper()
    return f"{STACK_NAME}-{lid}"[: limit - 13] + f"-{suffix}"


def _arn(stack: Stack, service: str, rest: str) -> str:
    return f"arn:aws:{service}:{stack.region}:{ACCOUNT_ID}:{rest}"


def _role(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    iam = session.client("iam")
    name = props.get("RoleName") or physical_name(stack, lid)
    role = iam.create_role(
        RoleName=name,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
    )["Role"]
    for policy in props.get("Policies") or []:
        # SAM writes no Version (IAM reads 2008-10-17); moto takes only 2012-10-17. The two read a
        # document alike unless it holds policy variables, which intrinsics have replaced here.
        policy["PolicyDocument"].setdefault("Version", "2012-10-17")
        iam.put_role_policy(
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(policy["PolicyDocument"]),
        )
    for arn in props.get("ManagedPolicyArns") or []:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    stack.refs[lid] = name
    stack.attributes.update({(lid, "Arn"): role["Arn"], (lid, "RoleId"): role["RoleId"]})


def _function(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    name = props.get("FunctionName") or lid  # the logical id: readable in histories and logs
    code = props["Code"]
    location = f"s3://{code.get('S3Bucket')}/{code.get('S3Key')}"
    if "ZipFile" not in code and location not in stack.translated.artifacts:
        raise TemplateRefused(f"{lid}: code {location} was not packaged from a local path")
    created = session.client("lambda").create_function(
        FunctionName=name,
        Runtime=props.get("Runtime", "python3.13"),
        Role=props["Role"],
        Handler=props["Handler"],
        Code={"ZipFile": _placeholder_zip()},
        Timeout=int(props.get("Timeout", 3)),
        MemorySize=int(props.get("MemorySize", 128)),
        Environment={"Variables": function_environment(stack, lid)},
        Architectures=props.get("Architectures", ["x86_64"]),
    )
    stack.refs[lid] = name
    stack.attributes[(lid, "Arn")] = created["FunctionArn"]


def _table(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    dynamodb = session.client("dynamodb")
    name = props.get("TableName") or physical_name(stack, lid, 255)
    args: dict[str, Any] = {
        key: props[key]
        for key in (
            "KeySchema",
            "AttributeDefinitions",
            "ProvisionedThroughput",
            "StreamSpecification",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
        )
        if props.get(key)
    }
    args["BillingMode"] = props.get(
        "BillingMode", "PROVISIONED" if "ProvisionedThroughput" in props else "PAY_PER_REQUEST"
    )
    if props.get("SSESpecification"):
        args["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
    created = dynamodb.create_table(TableName=name, **args)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
        )
    stack.refs[lid] = name
    stack.attributes[(lid, "Arn")] = created["TableArn"]


def _key(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    kms = session.client("kms")
    created = kms.create_key(
        Policy=json.dumps(props["KeyPolicy"]), Description=props.get("Description", lid)
    )["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=created["KeyId"])
    stack.refs[lid] = created["KeyId"]
    stack.attributes.update({(lid, "Arn"): created["Arn"], (lid, "KeyId"): created["KeyId"]})


def _topic(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    name = props.get("TopicName") or physical_name(stack, lid, 256)
    attributes = {"DisplayName": props["DisplayName"]} if props.get("DisplayName") else {}
    if props.get("KmsMasterKeyId"):
        attributes["KmsMasterKeyId"] = props["KmsMasterKeyId"]
    arn = session.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
    stack.refs[lid] = arn
    stack.attributes.update({(lid, "TopicArn"): arn, (lid, "TopicName"): name})


def _bus(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    arn = session.client("events").create_event_bus(Name=props["Name"])["EventBusArn"]
    stack.refs[lid] = props["Name"]
    stack.attributes.update({(lid, "Arn"): arn, (lid, "Name"): props["Name"]})


def _log_group(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    logs = session.client("logs")
    name = props.get("LogGroupName") or physical_name(stack, lid, 512)
    logs.create_log_group(logGroupName=name)
    if props.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    stack.refs[lid] = name
    stack.attributes[(lid, "Arn")] = _arn(stack, "logs", f"log-group:{name}:*")


def _state_machine(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    if "DefinitionS3Location" in props:
        location = props["DefinitionS3Location"]
        uri = f"s3://{location['Bucket']}/{location['Key']}"
        if uri not in stack.translated.artifacts:
            raise TemplateRefused(f"{lid}: definition {uri} was not packaged from a local path")
        definition = Path(stack.translated.artifacts[uri]).read_text()
    elif "DefinitionString" in props:
        definition = str(props["DefinitionString"])
    else:
        definition = json.dumps(props["Definition"])
    definition = substitute(definition, props.get("DefinitionSubstitutions") or {}, lid)
    name = props.get("StateMachineName") or physical_name(stack, lid, 80)
    created = session.client("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=props["RoleArn"],
        type=props.get("StateMachineType", "STANDARD"),
    )
    stack.refs[lid] = created["stateMachineArn"]
    stack.attributes.update({(lid, "Arn"): created["stateMachineArn"], (lid, "Name"): name})


def _schedule(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    target = {key: value for key, value in props["Target"].items() if key in _SCHEDULE_TARGET_KEYS}
    args: dict[str, Any] = {
        "Name": props.get("Name") or physical_name(stack, lid),
        "ScheduleExpression": props["ScheduleExpression"],
        "FlexibleTimeWindow": props["FlexibleTimeWindow"],
        "Target": target,
        "State": props.get("State", "ENABLED"),
    }
    if props.get("Description"):
        args["Description"] = props["Description"]
    arn = session.client("scheduler").create_schedule(**args)["ScheduleArn"]
    stack.refs[lid] = args["Name"]
    stack.attributes[(lid, "Arn")] = arn


_SCHEDULE_TARGET_KEYS = {"Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig"}


def _alarm(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    keys = (
        "AlarmName", "AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
        "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
        "AlarmActions", "OKActions",
    )  # fmt: skip
    args = {key: props[key] for key in keys if key in props}
    args.setdefault("AlarmName", physical_name(stack, lid, 255))
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in args:
            args[key] = int(args[key])
    args["Threshold"] = float(args["Threshold"])
    session.client("cloudwatch").put_metric_alarm(**args)
    stack.refs[lid] = args["AlarmName"]
    stack.attributes[(lid, "Arn")] = _arn(stack, "cloudwatch", f"alarm:{args['AlarmName']}")


def _rest_api(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    """Kept resolved (``stack.properties``) for the local API server, which routes by its Body."""
    api_id = hashlib.sha256(lid.encode()).hexdigest()[:10]
    stack.refs[lid] = api_id
    stack.attributes[(lid, "RootResourceId")] = f"{api_id}-root"


def _connection(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    name = props.get("Name") or physical_name(stack, lid)
    created = session.client("events").create_connection(
        Name=name, AuthorizationType=props["AuthorizationType"], AuthParameters=props["AuthParameters"]
    )
    stack.refs[lid] = name
    stack.attributes[(lid, "Arn")] = created["ConnectionArn"]


def _api_destination(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    name = props.get("Name") or physical_name(stack, lid)
    keys = ("ConnectionArn", "InvocationEndpoint", "HttpMethod", "InvocationRateLimitPerSecond")
    args = {key: props[key] for key in keys if key in props}
    if "InvocationRateLimitPerSecond" in args:
        args["InvocationRateLimitPerSecond"] = int(args["InvocationRateLimitPerSecond"])
    created = session.client("events").create_api_destination(Name=name, **args)
    stack.refs[lid] = name
    stack.attributes[(lid, "Arn")] = created["ApiDestinationArn"]


def _rule(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    events = session.client("events")
    name = props.get("Name") or physical_name(stack, lid)
    bus = props.get("EventBusName", "default")
    created = events.put_rule(
        Name=name, EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]),
        State=props.get("State", "ENABLED"), Description=props.get("Description", ""),
    )  # fmt: skip
    targets = [
        {key: value for key, value in target.items() if key in _RULE_TARGET_KEYS}
        for target in props.get("Targets") or []
    ]
    for target in targets:
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in target.get("RetryPolicy", {}):
                target["RetryPolicy"][key] = int(target["RetryPolicy"][key])
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    stack.refs[lid] = name
    stack.attributes[(lid, "Arn")] = created["RuleArn"]


_RULE_TARGET_KEYS = {"Id", "Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig"}


def _queue(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    name = props.get("QueueName") or physical_name(stack, lid, 80)
    attributes = {
        key: str(props[key])
        for key in ("MessageRetentionPeriod", "KmsMasterKeyId", "VisibilityTimeout")
        if key in props
    }
    if "RedrivePolicy" in props:  # moto moves a message received maxReceiveCount times to the target
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.refs[lid] = url
    stack.attributes.update({(lid, "Arn"): arn, (lid, "QueueName"): name, (lid, "QueueUrl"): url})


def _event_source_mapping(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    """Recorded, not created in moto (whose mapping would invoke its own Lambda): the engine polls
    the queue for the function itself (local_engine/queues.py, ``QueueEventSource``)."""
    if not str(props.get("EventSourceArn", "")).startswith("arn:aws:sqs:"):
        raise TemplateRefused(f"{lid}: the local engine polls SQS queues only")
    stack.refs[lid] = f"{lid}-local"


def _queue_policy(session: Any, stack: Stack, lid: str, props: dict[str, Any]) -> None:
    sqs = session.client("sqs")
    for url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    stack.refs[lid] = lid


_CREATORS: dict[str, Callable[[Any, Stack, str, dict[str, Any]], None]] = {
    "AWS::IAM::Role": _role,
    "AWS::Lambda::Function": _function,
    "AWS::DynamoDB::Table": _table,
    "AWS::KMS::Key": _key,
    "AWS::SNS::Topic": _topic,
    "AWS::Events::EventBus": _bus,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::Events::Connection": _connection,
    "AWS::Events::ApiDestination": _api_destination,
    "AWS::Events::Rule": _rule,
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
}


def create_table(template_path: str | Path, session: Any, logical_id: str) -> str:
    """Create one of the template's DynamoDB tables, as deployed, in (moto's) AWS; return its name."""
    translated = translate(template_path, region=session.region_name)
    stack = Stack(translated=translated, region=session.region_name)
    resource = translated.resources("AWS::DynamoDB::Table")[logical_id]
    properties = stack.resolve(resource.get("Properties") or {})
    _table(session, stack, logical_id, properties)
    return stack.refs[logical_id]


def substitute(definition: str, values: dict[str, Any], what: str = "definition") -> str:
    """Fill ``${Var}`` like DefinitionSubstitutions; an unfilled one is an error, not a surprise later."""
    for key, value in values.items():
        definition = definition.replace("${" + key + "}", str(value))
    missing = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
    if missing:
        raise TemplateRefused(f"{what}: no DefinitionSubstitutions for {', '.join(missing)}")
    return definition


def _variables(props: dict[str, Any]) -> dict[str, Any]:
    return dict(((props.get("Environment") or {}).get("Variables")) or {})


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def function_environment(stack: Stack, lid: str) -> dict[str, str]:
    """The resolved environment variables of a created function."""
    return {key: _env_text(value) for key, value in _variables(stack.properties[lid]).items()}


def code_path(stack: Stack, lid: str) -> Path:
    """The local folder a function's packaged code came from (its CodeUri)."""
    code = stack.properties[lid]["Code"]
    return Path(stack.translated.artifacts[f"s3://{code['S3Bucket']}/{code['S3Key']}"])


def _placeholder_zip() -> bytes:
    """moto stores the code; the bridge runs the handler from the packaged folder instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the local engine runs the handler from the packaged folder\n")
    return buffer.getvalue()
