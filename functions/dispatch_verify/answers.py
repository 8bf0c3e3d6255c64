"""The API's error body, ``Problem`` (the message and the fields at fault), for every 4xx and 5xx the
API function answers and for ``dispatch_verify.client`` to read.

Apart from api_models.py (the dispatch contract, which imports the workflow's models for
``DispatchView``): a reader of errors needs none of those.
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
