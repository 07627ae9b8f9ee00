from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django_eventstream import send_event


@csrf_exempt
def publish(request: HttpRequest) -> HttpResponse:
    for channel in request.POST.getlist("topic"):
        send_event(channel, "message", request.POST["data"], json_encode=False)
    return HttpResponse("ok")
