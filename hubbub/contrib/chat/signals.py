"""Signals the chat app sends.

``message_posted``
    Sent once a posted message is committed to the database (after its update was
    handed to the hub), from the request that posted it::

        from hubbub.contrib.chat.signals import message_posted

        def on_message(sender, message, **kwargs):
            ...  # sender is hubbub.contrib.chat.models.Message; message is the saved Message

        message_posted.connect(on_message)

    Receivers run in the posting request, after the commit; an exception in one is
    logged and does not fail the post. Messages created otherwise (admin, shell)
    do not send it.

``message_edited``
    Sent once its author's edit of a message is committed, from the request that edited it::

        from hubbub.contrib.chat.signals import message_edited

        def on_edit(sender, message, earlier_texts, **kwargs):
            ...  # message: the edited Message; earlier_texts: its every earlier text, the original first

        message_edited.connect(on_edit)

    Receivers run as those of ``message_posted`` do (notifications tell only the people an
    edit mentions for the first time). An edit that changes nothing does not send it.

``member_added``
    Sent once a user added to a private room with the room's members form is committed
    as a member, from the request that added them::

        from hubbub.contrib.chat.signals import member_added

        def on_member_added(sender, room, user, by, **kwargs):
            ...  # sender is hubbub.contrib.chat.models.Room; user was added to room by the user ``by``

        member_added.connect(on_member_added)

    Receivers run as those of ``message_posted`` do. Only the form knows who added the
    member: a change of ``Room.members`` made otherwise (admin, shell) does not send it,
    and is seen, without the actor, through ``m2m_changed`` (as ``hubbub.contrib.chat.receivers`` does).
"""

from django.dispatch import Signal

message_posted = Signal()
message_edited = Signal()
member_added = Signal()
