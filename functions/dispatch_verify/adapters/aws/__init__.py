"""AWS through boto3: shared clients, the ledger (DynamoDB), the waits' task tokens (DynamoDB, Step
Functions callbacks), escalations (SNS, EventBridge) and executions (Step Functions)."""
