"""The AWS actions each function's code calls, per logical id of template.yaml (least privilege).

Read from functions/dispatch_verify/: every boto3 call, Powertools' ``parameters.get_secret``
(``secretsmanager:GetSecretValue``) and what an encrypted target needs of its caller. Each role in the
template should grant exactly these, on the resources named beside them, besides what SAM adds to
every function: AWSLambdaBasicExecutionRole (its own logs) and, with ``Tracing: Active``,
AWSXrayWriteOnlyAccess. Metrics need nothing: Powertools writes them to the log (EMF).

Where they come from:

* ``secretsmanager:GetSecretValue`` (the LiveKit secret, ``LiveKitSecretArn``):
  ``config.livekit_credentials`` -> ``config._read_secret`` -> ``parameters.get_secret``, called by every
  handler that opens ``livekit.connect(config.livekit_credentials())`` and by the LiveKit webhook
  (``handlers/livekit_webhook.py``: ``webhook.verify(..., config.livekit_credentials())``).
* ``dynamodb:UpdateItem`` on the ledger (``DispatchLedgerTable``): ``ledger.record_progress`` and
  ``ledger.record_outcome`` -> ``Ledger._upsert`` -> ``Ledger._update`` -> ``update_item``.
"""

from __future__ import annotations

SECRET = "secretsmanager:GetSecretValue"
LEDGER_UPDATE = "dynamodb:UpdateItem"

ACTIONS_USED: dict[str, set[str]] = {
    # handlers/dispatch_agent.py: logic/request.py's validation (no AWS call), the secret
    # (livekit.connect: CreateRoom, CreateDispatch), waits.expect_the_join (WaitTokens.expect:
    # Table.update_item on WaitTokenTable), then ledger.record_progress (UpdateItem on the ledger).
    "DispatchAgentFunction": {SECRET, LEDGER_UPDATE},
    # handlers/check_participants.py: the secret (livekit.connect), then ledger.record_progress, or
    # (verified) recording.conclude -> ledger.record_outcome (UpdateItem).
    "CheckParticipantsFunction": {SECRET, LEDGER_UPDATE},
    # handlers/redispatch_agent.py: the secret (livekit.connect), waits.expect_the_join (UpdateItem
    # on WaitTokenTable), then ledger.record_progress.
    "RedispatchAgentFunction": {SECRET, LEDGER_UPDATE},
    # handlers/dial_callee.py: livekit.connect(config.livekit_credentials()), and ledger.dial_allowed
    # -> Ledger.claim_dial (the conditional UpdateItem that refuses to dial a cancelled request).
    "DialCalleeFunction": {SECRET, LEDGER_UPDATE},
    # handlers/escalate.py -> logic/escalation.py: builds the bundle and the page (the state machine's
    # "Page on-call" and "Announce outcome" publish them: STATE_MACHINE_ACTIONS), then
    # recording.conclude -> ledger.record_outcome (UpdateItem); metrics are EMF log lines.
    "EscalateFunction": {LEDGER_UPDATE},
    # handlers/record_outcome.py: ledger.record_outcome (UpdateItem); metrics are EMF log lines.
    "RecordOutcomeFunction": {LEDGER_UPDATE},
    # handlers/close_room.py: livekit.connect(config.livekit_credentials()).
    "CloseRoomFunction": {SECRET},
    # handlers/api.py -> api.py:
    # * POST /dispatches, logic/intake.accept_dispatch: Ledger.accept (put_item, conditional),
    #   StepFunctionsExecutions.start (start_execution), Ledger.started (update_item), and
    #   Ledger.forget (delete_item) when the start failed;
    # * GET /dispatches/{id}, logic/intake.dispatch_status: Ledger.get (get_item),
    #   StepFunctionsExecutions.describe (describe_execution) and Ledger.finish_from_execution
    #   (update_item) to repair an item whose final write was lost;
    # * GET /dispatches, Ledger.list: query on the ledger's indexes (ByRoom, ByDay);
    # * DELETE /dispatches/{id}, logic/cancel.cancel_dispatch: Ledger.cancel (update_item, conditional),
    #   StepFunctionsExecutions.describe and stop (stop_execution), the secret (livekit.connect: delete
    #   the request's dispatches and room), outcome_events.publish_outcome (events.put_events on the
    #   stack's bus: AgentDispatchCancelled).
    # (POST /livekit/webhook is LiveKitWebhookFunction's: no wait table here.)
    "DispatchApiFunction": {
        SECRET,
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
        "events:PutEvents",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    # handlers/livekit_webhook.py, POST /livekit/webhook: the secret (webhook.verify), then
    # webhook.on_event: WebhookEvents.claim (Table.put_item, conditional, on WebhookEventTable) and,
    # if acting fails, WebhookEvents.release (Table.delete_item there); WaitTokens.joined
    # (Table.query, then Table.update_item of each wait on WaitTokenTable), waits.resume
    # (send_task_success on this stack's state machine), WaitTokens.forget (Table.update_item there).
    # Its queue's event source (LiveKitWebhookEvents) polls as this role: it receives, deletes and reads
    # the queue's attributes, and decrypts what DispatchVerifyKey encrypted.
    "LiveKitWebhookFunction": {
        SECRET,
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "states:SendTaskSuccess",
        "kms:Decrypt",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    },
}

# The state machine's role, besides lambda:InvokeFunction on its own steps and the vended log delivery
# its logging needs: "Page on-call" (sns:publish on EscalationTopic, encrypted with DispatchVerifyKey:
# SNS uses the key as the publisher, who needs kms:GenerateDataKey and kms:Decrypt on it) and
# "Announce outcome" (events:putEvents on EscalationBus), "Await agent" (dynamodb:updateItem on
# WaitTokenTable, an AWS SDK integration with the task token).
STATE_MACHINE_ACTIONS = {
    "sns:Publish",
    "events:PutEvents",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "dynamodb:UpdateItem",
}
