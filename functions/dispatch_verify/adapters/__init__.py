"""Implementations of the ports and of the AWS services the steps use: LiveKit through livekit-api
(livekit.py, livekit_webhook.py) and AWS through boto3 (aws/)."""
