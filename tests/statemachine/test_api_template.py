"""The API, its functions (the dispatch API's and the LiveKit webhook's) and their tables in the template:
routes, least privilege, auth switch, the webhook's queue and how its function takes from it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import ROOT

LEDGER = {"Ref": "DispatchLedgerTable"}
LEDGER_ARN = {"Fn::GetAtt": ["DispatchLedgerTable", "Arn"]}
WAITS_ARN = {"Fn::GetAtt": ["WaitTokenTable", "Arn"]}
EVENTS_ARN = {"Fn::GetAtt": ["WebhookEventTable", "Arn"]}
API_FUNCTIONS = ("DispatchApiFunction", "LiveKitWebhookFunction")  # the functions behind DispatchApi
# SAM's policy templates that grant more than any function calls (Scan, BatchWriteItem,
# SendTaskFailure, ...): the functions' statements name the actions they use instead.
BROAD_TEMPLATES = {
    "DynamoDBCrudPolicy",
    "DynamoDBWritePolicy",
    "DynamoDBReadPolicy",
    "StepFunctionsCallbackPolicy",
}


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties = template["Resources"][logical_id]["Properties"]
    assert isinstance(properties, dict)
    return properties


def statements(properties: dict[str, Any]) -> list[dict[str, Any]]:
    """The function's inline ``Statement`` policies, one entry per statement."""
    return [s for p in properties.get("Policies", []) if "Statement" in p for s in p["Statement"]]


def grants(properties: dict[str, Any]) -> dict[str, set[str]]:
    """Actions of the inline statements by resource (as JSON, intrinsics included)."""
    found: dict[str, set[str]] = {}
    for statement in statements(properties):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        key = json.dumps(statement["Resource"], sort_keys=True)
        found.setdefault(key, set()).update([actions] if isinstance(actions, str) else actions)
    return found


def on(resource_value: Any) -> str:
    return json.dumps(resource_value, sort_keys=True)


def with_conditions(value: Any, conditions: dict[str, bool]) -> Any:
    """``value`` with every ``Fn::If`` decided as AWS::LanguageExtensions does before SAM reads it."""
    if isinstance(value, list):
        return [with_conditions(v, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::If"}:
        name, then, otherwise = value["Fn::If"]
        return with_conditions(then if conditions[name] else otherwise, conditions)
    kept = {k: with_conditions(v, conditions) for k, v in value.items()}
    return {k: v for k, v in kept.items() if v != {"Ref": "AWS::NoValue"}}


def api_events(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every function's API events, by function (those without any left out)."""
    return {
        lid: list(res["Properties"]["Events"].values())
        for lid, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
        and any(e["Type"] == "Api" for e in (res["Properties"].get("Events") or {}).values())
    }


def webhook_operation(template: dict[str, Any], conditions: dict[str, bool]) -> dict[str, Any]:
    """``POST /livekit/webhook`` as DispatchApi's DefinitionBody declares it, conditions decided."""
    body = resource(template, "DispatchApi")["DefinitionBody"]
    operation = with_conditions(body["paths"]["/livekit/webhook"]["post"], conditions)
    assert isinstance(operation, dict)
    return operation


def test_the_api_routes_are_the_documented_operations(template: dict[str, Any]) -> None:
    # Given the API events of every function, the API's own definition, and the committed OpenAPI document
    by_function = api_events(template)
    events = [event for found in by_function.values() for event in found]
    api = resource(template, "DispatchApi")
    defined = {(method, path) for path, item in api["DefinitionBody"]["paths"].items() for method in item}
    documented = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]

    # When all are listed as (method, path)
    routes = {(e["Properties"]["Method"].lower(), e["Properties"]["Path"]) for e in events}
    operations = {(method, path) for path, item in documented.items() for method in item}

    # Then the functions' routes and the API's own are the documented ones, all on this template's API:
    # the dispatch routes served by the API function, the LiveKit webhook by API Gateway itself (SAM
    # merges the two: MergeDefinitions)
    assert api["MergeDefinitions"] is True
    assert defined == {("post", "/livekit/webhook")}
    assert (
        routes | defined
        == operations
        == {
            ("post", "/dispatches"),
            ("get", "/dispatches"),
            ("get", "/dispatches/{request_id}"),
            ("delete", "/dispatches/{request_id}"),
            ("post", "/livekit/webhook"),
        }
    )
    assert not routes & defined
    assert len(events) == len(routes)
    assert all(e["Type"] == "Api" and e["Properties"]["RestApiId"] == {"Ref": "DispatchApi"} for e in events)
    assert {lid: {e["Properties"]["Path"] for e in found} for lid, found in by_function.items()} == {
        "DispatchApiFunction": {"/dispatches", "/dispatches/{request_id}"},
    }


@pytest.mark.parametrize(
    ("api_auth", "api", "webhook"),
    [
        (
            "AWS_IAM",
            {"DefaultAuthorizer": "AWS_IAM", "InvokeRole": "NONE", "UsagePlan": {"CreateUsagePlan": "NONE"}},
            [{"NONE": []}],
        ),
        (
            "API_KEY",
            {"ApiKeyRequired": True, "UsagePlan": {"CreateUsagePlan": "PER_API"}},
            [{"api_key_false": []}],
        ),
    ],
)
def test_only_the_webhook_route_skips_aws_auth_in_either_mode(
    template: dict[str, Any], api_auth: str, api: dict[str, Any], webhook: list[dict[str, Any]]
) -> None:
    # Given the API's and its routes' auth, with the conditions decided for one ApiAuth value
    conditions = {"UseApiKeys": api_auth == "API_KEY"}
    events = [event for found in api_events(template).values() for event in found]
    routes = {e["Properties"]["Path"]: with_conditions(e["Properties"], conditions) for e in events}

    # When SAM reads them (after the language extensions)
    api_auth_seen = with_conditions(resource(template, "DispatchApi")["Auth"], conditions)

    # Then the API defaults to SigV4 (API Gateway invoking the function as itself, so a caller needs
    # only execute-api:Invoke) or to a required key; no function route opts out; the LiveKit webhook
    # carries the one marker SAM honours in that mode (LiveKit cannot sign AWS requests; its JWT is
    # checked by the function that takes the queued events)
    assert api_auth_seen == api
    assert [path for path, props in routes.items() if "Auth" in props] == []
    assert webhook_operation(template, conditions)["security"] == webhook


def test_the_webhook_route_queues_livekits_posts_as_they_came_and_nothing_else(
    template: dict[str, Any],
) -> None:
    # Given the webhook route's integration (the same in both auth modes)
    integrations = [
        webhook_operation(template, {"UseApiKeys": mode})["x-amazon-apigateway-integration"]
        for mode in (True, False)
    ]
    integration = integrations[0]
    role = resource(template, "LiveKitWebhookIntakeRole")

    # When it is read
    template_text = integration["requestTemplates"]["application/webhook+json"]

    # Then API Gateway sends LiveKit's body and Authorization header to the webhook queue, as a role
    # that may only send there (and use the key the queue is encrypted with); any other media type is
    # refused, never passed through; 200 once queued, 500 (LiveKit retries) when SQS refuses
    assert integrations[0] == integrations[1]
    assert (integration["type"], integration["httpMethod"], integration["passthroughBehavior"]) == (
        "aws",
        "POST",
        "never",
    )
    assert integration["uri"] == {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:sqs:path/${AWS::AccountId}/"
        "${LiveKitWebhookQueue.QueueName}"
    }
    assert integration["credentials"] == {"Fn::GetAtt": ["LiveKitWebhookIntakeRole", "Arn"]}
    assert set(integration["requestTemplates"]) == {"application/webhook+json"}
    assert template_text.startswith("Action=SendMessage&MessageBody=$util.urlEncode($input.body)")
    assert "MessageAttribute.1.Name=authorization" in template_text
    assert {k: v["statusCode"] for k, v in integration["responses"].items()} == {
        "2\\d{2}": "200",
        "default": "500",
    }
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert {json.dumps(s["Action"]): s["Resource"] for s in statements} == {
        '"sqs:SendMessage"': {"Fn::GetAtt": ["LiveKitWebhookQueue", "Arn"]},
        '["kms:GenerateDataKey", "kms:Decrypt"]': {"Fn::GetAtt": ["DispatchVerifyKey", "Arn"]},
    }


def test_the_webhook_function_may_claim_events_find_and_resume_waits_and_nothing_more(
    template: dict[str, Any],
) -> None:
    # Given the LiveKit webhook function
    function = resource(template, "LiveKitWebhookFunction")

    # When its policies are read
    found = grants(function)

    # Then it may read the LiveKit secret (the signature), claim an event id and give it back, query a
    # room's waits, mark them joined and remove a used token, resume executions of this state
    # machine, and take its own queue's messages (its event source polls as it) and decrypt them;
    # nothing else
    assert function["Handler"] == "dispatch_verify.handlers.livekit_webhook.lambda_handler"
    assert function["Environment"]["Variables"] == {"WEBHOOK_EVENT_TABLE_NAME": {"Ref": "WebhookEventTable"}}
    assert [p for p in function["Policies"] if "Statement" not in p] == [
        {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "LiveKitSecretArn"}}}
    ]
    assert found == {
        on(EVENTS_ARN): {"dynamodb:PutItem", "dynamodb:DeleteItem"},
        on(WAITS_ARN): {"dynamodb:Query", "dynamodb:UpdateItem"},
        on({"Ref": "DispatchVerifyStateMachine"}): {"states:SendTaskSuccess"},
        on({"Fn::GetAtt": ["DispatchVerifyKey", "Arn"]}): {"kms:Decrypt"},
        on({"Fn::GetAtt": ["LiveKitWebhookQueue", "Arn"]}): {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        },
    }
    assert "Events" not in function  # no SAM event: its managed policy would read every queue


def test_the_webhook_function_takes_only_agent_joins_from_its_queue_a_few_at_a_time(
    template: dict[str, Any],
) -> None:
    # Given the webhook function's event source, its queue, the dead-letter queue and the parameter
    function = resource(template, "LiveKitWebhookFunction")
    props = resource(template, "LiveKitWebhookEvents")
    queue = resource(template, "LiveKitWebhookQueue")
    dead_letters = resource(template, "LiveKitWebhookDeadLetters")
    parameter = template["Parameters"]["LiveKitWebhookConcurrency"]

    # When they are read
    (pattern,) = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]

    # Then the function takes its queue's messages 10 at a time, at once (no batching window), with at
    # most LiveKitWebhookConcurrency (2 unless told; SQS allows no fewer) functions in flight; only an
    # agent's participant_joined passes the filter; a failed record alone is retried
    assert template["Resources"]["LiveKitWebhookEvents"]["Type"] == "AWS::Lambda::EventSourceMapping"
    assert props["FunctionName"] == {"Ref": "LiveKitWebhookFunction"}
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["LiveKitWebhookQueue", "Arn"]}
    assert (props["BatchSize"], props["MaximumBatchingWindowInSeconds"]) == (10, 0)
    assert props["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "LiveKitWebhookConcurrency"}}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert pattern == {"body": {"event": ["participant_joined"], "participant": {"kind": ["AGENT"]}}}
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (
        "Number",
        2,
        2,
        1000,
    )
    # And a message lives no longer than a delivery's signature is valid (5 minutes); a failed one is
    # visible again after 30 s (Lambda wants at least the function's timeout) and set aside, encrypted,
    # after 5 receives
    assert queue["MessageRetentionPeriod"] == 300
    assert queue["VisibilityTimeout"] >= function["Timeout"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["LiveKitWebhookDeadLetters", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["KmsMasterKeyId"] == dead_letters["KmsMasterKeyId"] == {"Ref": "DispatchVerifyKey"}
    # And no function reserves concurrency: the queue, not a throttle, absorbs a burst
    reserved = [
        lid
        for lid, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function" and "ReservedConcurrentExecutions" in res["Properties"]
    ]
    assert reserved == []


def test_webhook_events_are_keyed_by_their_id_and_expire(template: dict[str, Any]) -> None:
    table = template["Resources"]["WebhookEventTable"]
    properties = table["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "event_id", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionPolicy"] == "Delete"


def test_the_state_machine_records_the_wait_tokens_and_the_dispatching_steps_prepare_their_items(
    template: dict[str, Any],
) -> None:
    # Given every function's grants and the state machine's
    writers = {
        lid: grants(res["Properties"]).get(on(WAITS_ARN), set())
        for lid, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }
    machine = grants(resource(template, "DispatchVerifyStateMachine"))

    # When the grants on the wait table are read
    # Then "Await agent" (the state machine itself, no Lambda) may update a wait item (its token), the
    # dispatching steps may prepare one, the webhook may find and mark them; nobody else touches them
    assert machine[on(WAITS_ARN)] == {"dynamodb:UpdateItem"}
    assert {lid: actions for lid, actions in writers.items() if actions} == {
        "DispatchAgentFunction": {"dynamodb:UpdateItem"},
        "RedispatchAgentFunction": {"dynamodb:UpdateItem"},
        "LiveKitWebhookFunction": {"dynamodb:Query", "dynamodb:UpdateItem"},
    }
    assert "AwaitAgentFunction" not in template["Resources"]


def test_wait_tokens_expire_and_are_keyed_by_room_then_request(template: dict[str, Any]) -> None:
    table = resource(template, "WaitTokenTable")
    keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
    assert keys == {"room": "HASH", "request_id": "RANGE"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_api_function_may_start_and_describe_executions_and_use_the_ledger(
    template: dict[str, Any],
) -> None:
    # Given the API function
    function = resource(template, "DispatchApiFunction")

    # When its environment and policies are read
    policies = function["Policies"]
    found = grants(function)

    # Then it starts this state machine, puts, reads, updates and deletes ledger items and queries its
    # indexes (no scan, no batch), describes and stops only this state machine's executions, reads the
    # LiveKit secret (a cancel deletes dispatches) and puts events on the stack's bus (the cancel's);
    # the waits and resuming are the webhook function's, not its
    assert function["Handler"] == "dispatch_verify.handlers.api.lambda_handler"
    assert {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "LiveKitSecretArn"}}} in policies
    assert {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "EscalationBus"}}} in policies
    assert found[json.dumps({"Fn::Sub": "${DispatchLedgerTable.Arn}/index/*"}, sort_keys=True)] == {
        "dynamodb:Query"
    }
    assert on(WAITS_ARN) not in found
    assert not any("states:SendTaskSuccess" in actions for actions in found.values())
    assert function["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {"Ref": "DispatchVerifyStateMachine"}
    assert {
        "StepFunctionsExecutionPolicy": {
            "StateMachineName": {"Fn::GetAtt": ["DispatchVerifyStateMachine", "Name"]}
        }
    } in policies
    assert found[on(LEDGER_ARN)] == {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    (executions,) = [json.loads(k) for k, actions in found.items() if "states:DescribeExecution" in actions]
    assert found[on(executions)] == {"states:DescribeExecution", "states:StopExecution"}
    assert executions["Fn::Sub"].endswith(":execution:${DispatchVerifyStateMachine.Name}:*")


def test_only_the_steps_that_record_progress_may_write_the_ledger(template: dict[str, Any]) -> None:
    # Given every function's policies
    functions = {
        lid: res["Properties"]
        for lid, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }

    # When the functions that may touch the ledger are listed, with what they may do to it
    ledger = on(LEDGER_ARN)
    by_function = {lid: grants(props) for lid, props in functions.items()}
    ledger_actions = {lid: found[ledger] for lid, found in by_function.items() if ledger in found}

    # Then the steps among them are those that call ledger.record_progress / record_outcome, and they
    # may only update an item (the API, which accepts requests, is the only other); all know the table
    assert ledger_actions.pop("DispatchApiFunction")
    assert ledger_actions == {
        "DialCalleeFunction": {"dynamodb:UpdateItem"},  # the conditional claim: never dial a cancelled one
        "DispatchAgentFunction": {"dynamodb:UpdateItem"},
        "CheckParticipantsFunction": {"dynamodb:UpdateItem"},
        "RedispatchAgentFunction": {"dynamodb:UpdateItem"},
        "EscalateFunction": {"dynamodb:UpdateItem"},  # records the escalation's outcome
        "RecordOutcomeFunction": {"dynamodb:UpdateItem"},
    }
    assert template["Globals"]["Function"]["Environment"]["Variables"]["LEDGER_TABLE_NAME"] == LEDGER


def test_no_function_gets_a_policy_template_broader_than_its_calls(template: dict[str, Any]) -> None:
    # Given every function's policies
    functions = {
        lid: res["Properties"]
        for lid, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }

    # When the policy templates they use are listed
    used = {name for props in functions.values() for policy in props.get("Policies", []) for name in policy}

    # Then none of SAM's broad DynamoDB or callback templates is among them, and no statement grants a
    # wildcard action or resource
    assert used & BROAD_TEMPLATES == set()
    for lid, props in functions.items():
        for statement in statements(props):
            actions = statement["Action"]
            assert all("*" not in a for a in ([actions] if isinstance(actions, str) else actions)), lid
            assert statement["Resource"] != "*", lid


def test_the_ledger_is_keyed_by_request_id_expires_and_outlives_the_stack(template: dict[str, Any]) -> None:
    # Given the ledger table
    table = template["Resources"]["DispatchLedgerTable"]
    properties = table["Properties"]

    # When its key, TTL and policies are read
    # Then the request id is the key, expires_at the TTL, and the table is retained
    assert properties["KeySchema"] == [{"AttributeName": "request_id", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_api_uses_iam_auth_unless_the_stack_asks_for_api_keys(template: dict[str, Any]) -> None:
    # Given the ApiAuth parameter and the API's Auth
    parameter = template["Parameters"]["ApiAuth"]
    auth = resource(template, "DispatchApi")["Auth"]

    # When they are read
    # Then AWS_IAM is the default; API_KEY requires a key and creates a usage plan
    assert (parameter["Default"], parameter["AllowedValues"]) == ("AWS_IAM", ["AWS_IAM", "API_KEY"])
    assert template["Conditions"]["UseApiKeys"] == {"Fn::Equals": [{"Ref": "ApiAuth"}, "API_KEY"]}
    assert auth["DefaultAuthorizer"] == {"Fn::If": ["UseApiKeys", {"Ref": "AWS::NoValue"}, "AWS_IAM"]}
    assert auth["InvokeRole"] == {"Fn::If": ["UseApiKeys", {"Ref": "AWS::NoValue"}, "NONE"]}
    assert auth["ApiKeyRequired"] == {"Fn::If": ["UseApiKeys", True, {"Ref": "AWS::NoValue"}]}
    assert auth["UsagePlan"]["CreateUsagePlan"] == {"Fn::If": ["UseApiKeys", "PER_API", "NONE"]}
    # And SAM sees plain values: the language extensions resolve the conditions first
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


def test_the_api_has_one_stage_and_logs_every_access_as_json(template: dict[str, Any]) -> None:
    # Given the API and its access log group
    api = resource(template, "DispatchApi")
    group = template["Resources"]["ApiAccessLogGroup"]

    # When its stage settings are read
    setting = api["AccessLogSetting"]
    entry = json.loads(setting["Format"])

    # Then OpenAPI 3 keeps SAM from adding its extra "Stage" stage beside v1, and each request is one
    # JSON line in a log group of this stack that expires and is encrypted with the stack's key
    assert (api["StageName"], api["OpenApiVersion"]) == ("v1", "3.0.1")
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert {
        "requestId",
        "ip",
        "caller",
        "requestTime",
        "httpMethod",
        "resourcePath",
        "status",
        "protocol",
        "responseLength",
    } <= set(entry)
    assert all(value.startswith("$context.") for value in entry.values())
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DispatchVerifyKey", "Arn"]}


def test_api_gateway_logs_through_the_account_role_the_stack_creates_unless_told_one_exists(
    template: dict[str, Any],
) -> None:
    # Given the parameter, its condition and the account-wide resources
    parameter = template["Parameters"]["ApiGatewayCloudWatchRole"]
    resources = template["Resources"]
    role, account = resources["ApiGatewayCloudWatchLogsRole"], resources["ApiGatewayAccount"]

    # When they are read
    # Then by default the stack creates the role and sets it for the account; both outlive the stack
    # (other APIs of the account may log through them by then)
    assert (parameter["Default"], parameter["AllowedValues"]) == ("Create", ["Create", "Existing"])
    condition = "CreateApiGatewayCloudWatchRole"
    assert template["Conditions"][condition] == {
        "Fn::Equals": [{"Ref": "ApiGatewayCloudWatchRole"}, "Create"]
    }
    assert role["Condition"] == account["Condition"] == condition
    assert role["DeletionPolicy"] == account["DeletionPolicy"] == "Retain"
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
    ]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    role_arn = {"Fn::GetAtt": ["ApiGatewayCloudWatchLogsRole", "Arn"]}
    assert account["Properties"]["CloudWatchRoleArn"] == role_arn
    # And the stage (with its access logs) is created after the account setting when the stack makes it
    assert resource(template, "DispatchApi")["Variables"] == {
        "Fn::If": [condition, {"accountSetting": {"Ref": "ApiGatewayAccount"}}, {"Ref": "AWS::NoValue"}]
    }


def test_dropped_webhooks_and_dead_lettered_ones_page_the_escalation_topic(template: dict[str, Any]) -> None:
    # Given the two alarms of the webhook path
    rejected = resource(template, "LiveKitWebhooksRejectedAlarm")
    dead = resource(template, "LiveKitWebhookDeadLettersAlarm")

    # When they are read
    # Then a dropped webhook (the function's WebhooksRejected, EMF with Powertools' service dimension)
    # and a message in the dead-letter queue each page the escalation topic within 5 minutes, in any
    # stack (no condition): LiveKit sees 200 from the queue, so these are where a misconfigured
    # project or a failing function shows
    assert (rejected["Namespace"], rejected["MetricName"], rejected["Statistic"]) == (
        "DispatchVerify",
        "WebhooksRejected",
        "Sum",
    )
    assert rejected["Dimensions"] == [{"Name": "service", "Value": "dispatch-verify"}]
    assert (dead["Namespace"], dead["MetricName"], dead["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert dead["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["LiveKitWebhookDeadLetters", "QueueName"]}}
    ]
    for alarm in (rejected, dead):
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"]) == (300, 1, 1)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "EscalationTopic"}]
    assert not {"Condition"} & set(template["Resources"]["LiveKitWebhooksRejectedAlarm"])
