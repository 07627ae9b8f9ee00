from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt


async def events(request: HttpRequest) -> StreamingHttpResponse:
    group = request.GET["topic"]
    channel_layer = get_channel_layer()

    async def stream():
        channel = await channel_layer.new_channel()
        await channel_layer.group_add(group, channel)
        try:
            yield ": subscribed\n\n"
            while True:
                message = await channel_layer.receive(channel)
                yield f"event: {message['event']}\ndata: {message['data']}\n\n"
        finally:
            await channel_layer.group_discard(group, channel)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@csrf_exempt
async def publish(request: HttpRequest) -> HttpResponse:
    channel_layer = get_channel_layer()
    message = {"type": "sse.message", "event": "message", "data": request.POST["data"]}
    for group in request.POST.getlist("topic"):
        await channel_layer.group_send(group, message)
    return HttpResponse("ok")
