"""Hubbub: a Mercure hub for Django.

``hubbub.publish(...)`` from sync code, ``await hubbub.apublish(...)`` from async code;
``hubbub.last_event_id()`` is the newest stored update's id, for a page to resume from;
``hubbub.reauthorize(user)`` (``areauthorize``) closes the streams a user's session opened,
so that they reconnect with what the user may read now; ``hubbub.mint_token(...)`` signs a
token for this hub and ``hubbub.verify_token(token, publish=...)`` checks one. Everything
else in the package whose name starts with ``_`` is internal.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .exceptions import (
    FanoutUnavailable,
    HistoryUnavailable,
    HubbubError,
    InvalidUpdate,
    LayerUnavailable,
    OutcomeUnknown,
    RelayWarning,
    UpdateConflict,
    UpdateTooLarge,
)

if TYPE_CHECKING:
    from ._authorization import Authorizer, areauthorize, reauthorize
    from ._history import last_event_id
    from ._publishing import apublish, publish
    from ._selectors import SelectorSet
    from ._tokens import InvalidToken, mint_token, verify_token
    from ._updates import Update

__all__ = [
    "publish",
    "apublish",
    "last_event_id",
    "reauthorize",
    "areauthorize",
    "mint_token",
    "verify_token",
    "Authorizer",
    "SelectorSet",
    "Update",
    "HubbubError",
    "InvalidUpdate",
    "UpdateTooLarge",
    "FanoutUnavailable",
    "LayerUnavailable",
    "HistoryUnavailable",
    "UpdateConflict",
    "OutcomeUnknown",
    "InvalidToken",
    "RelayWarning",
]

# Imported on first use, so that "import hubbub" (as INSTALLED_APPS does) loads no models
# before Django's app registry is ready.
_LAZY = {
    "publish": "_publishing",
    "apublish": "_publishing",
    "last_event_id": "_history",
    "reauthorize": "_authorization",
    "areauthorize": "_authorization",
    "Authorizer": "_authorization",
    "mint_token": "_tokens",
    "verify_token": "_tokens",
    "InvalidToken": "_tokens",
    "SelectorSet": "_selectors",
    "Update": "_updates",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hubbub' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
