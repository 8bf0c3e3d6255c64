"""A deploy rehearsal for each ApiAuth x LiveKitWebhooks parameter set: SAM's translation of the template
builds the local stack, and through it (IAM enforced, the API routed by the OpenAPI body SAM generated)
a dispatch is verified and another escalates, with every outward effect where AWS would put it."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from clocks import VirtualClock
from livekit_sim import LiveKitSimulator
from local_engine import LocalApi, LocalEngine, translate
from tests.integration.api_helpers import a_dispatch, follow, via_handler
from tests.integration.conftest import ROOT

SETS = [
    {"ApiAuth": auth, "LiveKitWebhooks": webhooks}
    for auth, webhooks in itertools.product(["AWS_IAM", "API_KEY"], ["Enabled", "Disabled"])
]
IDS = [f"{p['ApiAuth']}-{p['LiveKitWebhooks']}" for p in SETS]


@pytest.fixture(params=SETS, ids=IDS)
def parameters(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(request.param)


@pytest.fixture
def deployed(
    clock: VirtualClock, sim: LiveKitSimulator, parameters: dict[str, str]
) -> Iterator[tuple[LocalEngine, LocalApi]]:
    credentials = {"url": sim.url, "api_key": sim.api_key, "api_secret": sim.api_secret}
    with LocalEngine(
        clock, credentials, template_path=ROOT / "template.yaml", parameters=parameters
    ) as engine:
        api = LocalApi(engine)
        if parameters["LiveKitWebhooks"] == "Enabled":  # the project posts its webhooks to the stack
            sim.set_webhook(api.deliver_webhook)
        yield engine, api


def test_the_stack_deploys_and_verifies_and_escalates_through_its_api(
    deployed: tuple[LocalEngine, LocalApi], sim: LiveKitSimulator, parameters: dict[str, str]
) -> None:
    engine, api = deployed
    # Given a warm agent and one that is assigned but never joins
    sim.set_agent("fast-agent", "warm")
    sim.set_agent("ghost-agent", "never")

    # When both are dispatched through POST /dispatches and followed with GET
    accepted = [
        via_handler(api, "POST", "/dispatches", a_dispatch(f"rehearsal-{agent}", agent))
        for agent in ("fast-agent", "ghost-agent")
    ]
    final = [
        follow(lambda answer=answer: via_handler(api, "GET", f"/dispatches/{answer.body['request_id']}"))
        for answer in accepted
    ]

    # Then one is verified and the other escalated (GET shows an outcome once the deciding step has
    # recorded it: the page and the event follow, before the execution ends); one page for the
    # escalation, one event for each
    assert [answer.status for answer in accepted] == [202, 202]
    assert [answer.body["status"] for answer in final] == ["verified", "escalated"]
    assert final[1].body["cause"] == "not_joined"
    executions = engine.sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
    ended = engine.wait_all([e["executionArn"] for e in executions])
    assert sorted(result.status for result in ended) == ["FAILED", "SUCCEEDED"]
    assert [n["attributes"]["cause"] for n in engine.notifications()] == ["not_joined"]
    assert sorted((e["detail-type"], e["detail"]["cause"]) for e in engine.bus_events()) == [
        ("AgentDispatchEscalated", "not_joined"),
        ("AgentDispatchVerified", None),
    ]
    # And the webhook was the one to end the wait only where the stack expects webhooks
    delivered = sum(hook.deliveries for hook in sim.webhooks if hook.event == "participant_joined")
    assert (delivered > 0) == (parameters["LiveKitWebhooks"] == "Enabled")


def test_the_api_guards_the_dispatch_routes_as_the_parameter_says_and_leaves_the_webhook_open(
    deployed: tuple[LocalEngine, LocalApi], parameters: dict[str, str]
) -> None:
    engine, api = deployed
    # Given the routes of the deployed API (the OpenAPI body SAM generated for these parameters)
    auth = {(route.method, route.resource): route.auth for route in api.routes}
    assert engine.stack is not None
    (body,) = (props["Body"] for props in engine.stack.of_type("AWS::ApiGateway::RestApi").values())
    integrations = [
        op["x-amazon-apigateway-integration"] for ops in body["paths"].values() for op in ops.values()
    ]
    stages = engine.stack.of_type("AWS::ApiGateway::Stage").values()

    # Then the dispatch routes need SigV4 or an API key, the webhook neither; the API function serves
    # the dispatch routes, and API Gateway may invoke it for each (its Lambda permissions); the webhook
    # is no function's: API Gateway queues it on the webhook queue, whose event source feeds the
    # webhook function
    guard = {"AWS_IAM": "AWS_IAM", "API_KEY": "api_key"}[parameters["ApiAuth"]]
    dispatch_routes = [
        ("POST", "/dispatches"),
        ("GET", "/dispatches"),
        ("GET", "/dispatches/{request_id}"),
        ("DELETE", "/dispatches/{request_id}"),
    ]
    assert [auth[route] for route in dispatch_routes] == [(guard,)] * 4
    assert not {"AWS_IAM", "api_key"} & set(auth[("POST", "/livekit/webhook")])
    assert {(route.method, route.resource): route.function for route in api.routes} == {
        **dict.fromkeys(dispatch_routes, "DispatchApiFunction"),
        ("POST", "/livekit/webhook"): "",
    }
    assert all(route.permitted for route in api.routes)
    (webhook,) = [route for route in api.routes if route.queue is not None]
    (source,) = engine.queue_sources.values()
    assert webhook.queue is not None and webhook.queue.queue_url == source.queue_url
    assert source.target.name == "LiveKitWebhookFunction"
    # And API Gateway calls the API function as itself, not with the caller's credentials (a SigV4
    # caller needs only execute-api:Invoke); only the queue integration has a role of its own; one
    # stage, with access logs
    assert [integration.get("credentials") is not None for integration in integrations].count(True) == 1
    assert [(stage["StageName"], "AccessLogSetting" in stage) for stage in stages] == [("v1", True)]


@pytest.mark.parametrize("parameters", SETS, ids=IDS)
def test_no_plain_string_of_the_deployed_template_still_names_a_resource(parameters: dict[str, str]) -> None:
    # Given the CloudFormation SAM hands over for these parameters
    translated = translate(ROOT / "template.yaml", parameters)
    resources = set(translated.resources())

    # When its strings outside Fn::Sub are read
    def plain_strings(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from plain_strings(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key != "Fn::Sub":
                    yield from plain_strings(value)

    # Then none holds a ${Resource} or ${Resource.Attribute} that nothing would substitute
    leftovers = [
        text
        for text in plain_strings(translated.template["Resources"])
        if any(name.split(".")[0] in resources for name in re.findall(r"\$\{([^}!]+)\}", text))
    ]
    assert leftovers == []
