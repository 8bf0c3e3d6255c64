"""DynamoDB answers each request atomically: a GetItem beside an UpdateItem of the same item never
fails inside the local engine (moto's backend alone is not thread-safe)."""

from __future__ import annotations

import threading

import boto3

from local_engine import LocalEngine


def test_a_read_beside_writes_of_the_same_item_always_gets_an_answer(engine: LocalEngine) -> None:
    # Given a table in the engine's DynamoDB, and one item that two threads write attribute after
    # attribute while a third reads it (the API's GET while a step records the outcome)
    dynamodb = boto3.client("dynamodb", region_name=engine.region)
    name = "atomic-requests"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"request_id": {"S": "race-1"}}
    dynamodb.put_item(TableName=name, Item=key)
    errors: list[BaseException] = []

    def write(prefix: str) -> None:
        try:
            for i in range(100):
                dynamodb.update_item(
                    TableName=name,
                    Key=key,
                    UpdateExpression="SET #a = :v",
                    ExpressionAttributeNames={"#a": f"{prefix}{i}"},
                    ExpressionAttributeValues={":v": {"M": {"n": {"N": str(i)}, "s": {"S": "x" * 20}}}},
                )
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(200):
                dynamodb.get_item(TableName=name, Key=key, ConsistentRead=True)
        except BaseException as exc:
            errors.append(exc)

    # When they run at once
    threads = [threading.Thread(target=write, args=(p,)) for p in ("a", "b")] + [
        threading.Thread(target=read)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every request was answered, and the item holds every write
    assert errors == []
    item = dynamodb.get_item(TableName=name, Key=key)["Item"]
    assert len(item) == 1 + 200
