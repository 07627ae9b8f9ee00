"""Calling the ORM and other sync code from the hub's long-lived streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def run_sync(function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``sync_to_async(function)(*args, **kwargs)``, in a task of its own.

    asgiref copies the context variables the call set back into its caller's context. In a
    stream's task they would stay for as long as the stream is open (about half a kilobyte
    for every subscriber); in a task of its own they go when it ends.
    """
    return await asyncio.ensure_future(sync_to_async(function)(*args, **kwargs))
