"""Direct invocations (the Lambda Invoke API): the event is the request object, or its JSON text.

The answer is the response object, or for a bad request the error body
``{"error": {"status", "message", "field"?, "expected"?}}`` as the payload (no exception, so clients read
why). Internal failures raise, so Lambda reports a function error and counts it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import Logger

from ..codec import RequestError, parse_json
from ..dataplane import DataPlane, Tally
from . import log_rejection


class DirectSource:
    """Direct invocations over ``plane``."""

    def __init__(self, plane: DataPlane, logger: Logger) -> None:
        self.plane = plane
        self.logger = logger

    def handle(self, event: Any, tally: Tally) -> dict[str, Any]:
        try:
            payload = parse_json(event) if isinstance(event, str | bytes) else event
            response = self.plane.predict(payload, tally)
        except RequestError as err:
            log_rejection(self.logger, err)
            tally.status = err.status
            return err.to_body()
        except Exception:
            tally.status = 500
            self.logger.exception("internal error")
            raise  # a direct invoke reports internal failures as a function error
        tally.status = 200
        return response
