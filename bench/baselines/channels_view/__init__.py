"""The tutorial's channel-layer SSE view (``seeds/000``), written async.

Each connection makes its own channel (``new_channel``), joins the topic's group
(``group_add``) and streams what ``receive`` returns; ``POST /publish`` is the tutorial's
``group_send``. ``BENCH_CHANNEL_LAYER=redis`` selects channels_redis' pub/sub layer,
anything else the in-memory layer.
"""
