"""The bodies both HTTP functions answer with besides the dispatch contract (api_models.py): a
``Problem`` for every error, and the webhook's ``WebhookAck``.

Apart from api_models.py, which imports the workflow's models for ``DispatchView``: the webhook function
answers with these and needs none of those (a cold start builds only the classes it imports).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Built at first use (defer_build, as dispatch_verify.models).
_DEFERRED = ConfigDict(defer_build=True)


class FieldProblem(BaseModel):
    model_config = _DEFERRED

    field: str
    type: str
    message: str


class Problem(BaseModel):
    model_config = _DEFERRED

    message: str
    errors: list[FieldProblem] = Field(default_factory=list)


class WebhookAck(BaseModel):
    model_config = _DEFERRED

    event: str = Field(description="The LiveKit event, e.g. participant_joined")
    resumed: int = Field(description="Workflows this delivery resumed (0: irrelevant, or a duplicate)")
