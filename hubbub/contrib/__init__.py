"""Optional apps built on the hub's public API: ``hubbub.contrib.chat`` and ``hubbub.contrib.notifications``.

Each is added to a project on its own (the notifications work without the chat; with it,
``@name`` mentions and room additions notify):

1. ``INSTALLED_APPS``: ``"hubbub.contrib.notifications"`` and/or ``"hubbub.contrib.chat"``
   (app labels ``hubbub_notifications``, ``hubbub_chat``), then ``manage.py migrate``. Their
   authorization hooks come with them (``AppConfig.hubbub_authorizers``).
2. URLs: ``path("", include("hubbub.contrib.notifications.urls"))`` (``notifications/``,
   ``api/notifications/``; URL namespace ``notifications``) and
   ``path("chat/", include("hubbub.contrib.chat.urls"))`` (the lobby at its root, ``rooms/...``;
   namespace ``chat``). The namespaces are the modules' ``app_name``; an ``include(...,
   namespace="other")`` works too.
3. Templates: the pages extend the project's base template, ``HUBBUB_BASE_TEMPLATE`` (default
   ``"base.html"``), which needs ``{% block content %}`` and may have ``{% block title %}``
   (inside ``<title>``) and ``{% block body_class %}`` (``<body class="...">``); see
   ``hubbub.contrib.pages``. The checks ``hubbub_notifications.E001`` / ``hubbub_chat.E001`` say
   when it is missing or has no content block. Each page can be overridden as usual, by a
   template of the same name (``hubbub/notifications/list.html``, ``hubbub/chat/room.html``...)
   earlier in the template search path.
4. The bell, on every page: ``{% load hubbub_notifications %}{% notification_bell %}`` in the
   base template (nothing for anonymous visitors; it brings its stylesheet, script and hub
   position). No context processor is needed.

The template libraries are ``hubbub_notifications`` and ``hubbub_chat``; settings
``HUBBUB_BASE_TEMPLATE`` and the chat's ``CHAT_*`` (``hubbub.contrib.chat.conf``).
"""
