"""Errors of the hub, each mapped to one HTTP status by the endpoint."""

from __future__ import annotations


class HubbubError(Exception):
    status = 500


class InvalidUpdate(HubbubError, ValueError):
    """A field of an update breaks the protocol's rules (HTTP 400)."""

    status = 400


class UpdateTooLarge(InvalidUpdate):
    """An update exceeds a configured size limit (HTTP 413)."""

    status = 413


class FanoutUnavailable(HubbubError):
    """The update was stored in history but the channel layer could not deliver it live.

    Subscribers receive it when they resume with Last-Event-ID (HTTP 503).
    """

    status = 503

    def __init__(self, update_id: str, cause: BaseException) -> None:
        super().__init__(f"update {update_id} was stored but the channel layer is unreachable: {cause}")
        self.update_id = update_id
