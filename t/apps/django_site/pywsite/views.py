from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse("django ok\n", content_type="text/plain")


def as_json(request):
    return JsonResponse({"framework": "django", "items": [1, 2, 3],
                         "script_name": request.META.get("SCRIPT_NAME")})


def hello(request, name):
    return JsonResponse({"hello": name,
                         "url": reverse("hello", args=["again"]),
                         "absolute": request.build_absolute_uri(
                             reverse("hello", args=["again"]))})


@csrf_exempt
def form(request):
    return JsonResponse({"name": request.POST.get("name"),
                         "items": request.POST.getlist("item"),
                         "method": request.method})
