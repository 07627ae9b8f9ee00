"""The demo's application with the fault suite's hook, for the servers the suite starts.

``HUBBUB_FAULT_KILL_AFTER_STORE=<update id>`` makes the process kill itself (SIGKILL) right
after that update is stored and before it is handed to the channel layer: the window in
which a worker's death leaves an update in the history that no subscriber was sent.
"""

import os
import signal

from example.asgi import application
from hubbub import _publishing

__all__ = ["application"]

_KILL_AFTER = os.environ.get("HUBBUB_FAULT_KILL_AFTER_STORE")

if _KILL_AFTER:
    _send = _publishing.send

    async def _send_or_die(batch):
        if any(update.id == _KILL_AFTER for _, update in batch):
            os.kill(os.getpid(), signal.SIGKILL)
        await _send(batch)

    _publishing.send = _send_or_die
