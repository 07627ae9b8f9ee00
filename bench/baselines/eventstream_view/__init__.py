"""django-eventstream with its stock view (``/events/?channel=T``, no storage, as installed).

Publishing needs a path of its own: ``POST /publish`` calls ``send_event`` for each topic.
"""
