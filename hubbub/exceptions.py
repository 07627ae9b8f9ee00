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
    """The channel layer could not take the update: it was not published, nor kept (HTTP 503).

    Publishing it again (with the same id) is safe.
    """

    status = 503

    def __init__(self, update_id: str, cause: BaseException) -> None:
        super().__init__(f"update {update_id} was not published, the channel layer is unreachable: {cause}")
        self.update_id = update_id
        self.cause = cause


class LayerUnavailable(HubbubError):
    """The channel layer could not be reached to subscribe or to send a control message (HTTP 503)."""

    status = 503


class RelayWarning(UserWarning):
    """An update was stored, but no server answered at ``HUBBUB_RELAY_URL`` to deliver it live.

    Raised as a warning (``warnings.warn``) by ``publish`` in a process that is not the
    server on the in-memory channel layer: open pages get the update only when they next
    reconnect. The ``publish`` and ``notify`` commands exit non-zero on it.
    """


class HistoryUnavailable(HubbubError):
    """The database holding the update history could not be reached (HTTP 503)."""

    status = 503
