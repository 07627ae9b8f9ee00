"""The tutorial's chat stream: an async generator that re-queries the messages table in a loop.

Kept as the tutorial wrote it (``seeds/003``): the stream sends the existing messages, then
polls ``Message.objects.filter(id__gt=last_id)`` with no pause. The only additions are a
comment sent once the stream is open (so the load generator knows it is subscribed) and a
``POST /publish`` endpoint (the tutorial's ``create-message`` without the session) for the
load generator.
"""
