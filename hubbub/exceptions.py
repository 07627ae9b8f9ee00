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
    """The channel layer could not take an update (HTTP 503).

    ``publish`` no longer raises it for an update it has stored: a stored update is
    acknowledged and reaches its subscribers once the layer is back (they resume from the
    history). Raised where there is no history to fall back on.
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


class UpdateConflict(HubbubError):
    """An update with this id is already stored, with different content (HTTP 409).

    The same id with the same content is a retry: it is answered with that id and changes nothing.
    """

    status = 409


class OutcomeUnknown(HubbubError):
    """The history database failed while storing an update, and could not tell afterwards
    whether it kept it (HTTP 504). Retrying with the same id is safe: a stored update is
    answered with its id and not stored or sent again."""

    status = 504


class HistoryUnavailable(HubbubError):
    """The database holding the update history could not be reached (HTTP 503)."""

    status = 503
