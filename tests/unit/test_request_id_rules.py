"""A request id is judged as a name too (models.py): Step Functions would take a zero-width or other
invisible character in an execution name, but two ids that look alike must not be two requests."""

from __future__ import annotations

import pytest
from dispatch_verify.errors import InvalidRequestError
from dispatch_verify.logic.request import prepare_request
from dispatch_verify.models import execution_name_problem

from .conftest import a_request
from .fakes import FakeTime


@pytest.mark.parametrize("request_id", ["crm\u200b991", "crm\u2066991", "crm\ufeff991"])
def test_a_request_id_with_an_invisible_character_is_an_invalid_request(
    now: FakeTime, request_id: str
) -> None:
    # Given a request id Step Functions would take as an execution name
    assert execution_name_problem(request_id) is None

    # When it is prepared
    with pytest.raises(InvalidRequestError) as raised:
        prepare_request({**a_request(), "request_id": request_id}, "exec-1")

    # Then it is refused, naming the field
    assert "request_id" in raised.value.detail.message
