import json
from collections.abc import AsyncGenerator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import models


@csrf_exempt
def publish(request: HttpRequest) -> HttpResponse:
    author, _ = models.Author.objects.get_or_create(name="bench")
    models.Message.objects.create(author=author, content=request.POST["data"])
    return HttpResponse(status=201)


async def stream_chat_messages(request: HttpRequest) -> StreamingHttpResponse:
    async def event_stream():
        yield ": subscribed\n\n"
        async for message in get_existing_messages():
            yield message
        last_id = await get_last_message_id()
        while True:
            new_messages = (
                models.Message.objects.filter(id__gt=last_id)
                .order_by("created_at")
                .values("id", "author__name", "content")
            )
            async for message in new_messages:
                yield f"data: {json.dumps(message)}\n\n"
                last_id = message["id"]

    async def get_existing_messages() -> AsyncGenerator:
        messages = models.Message.objects.all().order_by("created_at").values("id", "author__name", "content")
        async for message in messages:
            yield f"data: {json.dumps(message)}\n\n"

    async def get_last_message_id() -> int:
        last_message = await models.Message.objects.all().alast()
        return last_message.id if last_message else 0

    return StreamingHttpResponse(event_stream(), content_type="text/event-stream")
