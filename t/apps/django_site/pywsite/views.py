import hashlib

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


@csrf_exempt
def upload(request):
    """Length and sha256 of the body: request.body (?via=body), else
    request.read() in pieces, as a view taking a large upload would."""
    if request.GET.get("via") == "body":
        data = request.body
        n, digest = len(data), hashlib.sha256(data).hexdigest()
    else:
        h, n = hashlib.sha256(), 0
        while True:
            data = request.read(65536)
            if not data:
                break
            h.update(data)
            n += len(data)
        digest = h.hexdigest()
    return JsonResponse({"len": n, "sha256": digest,
                         "content_length": request.META.get(
                             "CONTENT_LENGTH")})
