"""Signals the chat app sends.

``message_posted``
    Sent once a posted message is committed to the database (after its update was
    handed to the hub), from the request that posted it::

        from chat.signals import message_posted

        def on_message(sender, message, **kwargs):
            ...  # sender is chat.models.Message; message is the saved Message

        message_posted.connect(on_message)

    Receivers run in the posting request, after the commit; an exception in one is
    logged and does not fail the post. Messages created otherwise (admin, shell)
    do not send it.
"""

from django.dispatch import Signal

message_posted = Signal()
