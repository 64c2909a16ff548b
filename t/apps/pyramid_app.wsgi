# pyramid_app.wsgi - a Pyramid application (Debian's python3-pyramid).
import hashlib
import sys
import types

from pyramid.config import Configurator
from pyramid.response import Response

# Configurator() would look its caller's module up in sys.modules; name
# the package explicitly so this works however the script is loaded.
PACKAGE = sys.modules.setdefault("pyw_pyramid_app",
                                 types.ModuleType("pyw_pyramid_app"))


def home(request):
    return Response("pyramid ok\n", content_type="text/plain")


def hello(request):
    return {"hello": request.matchdict["name"],
            "url": request.route_path("hello", name="again"),
            "full_url": request.route_url("hello", name="again"),
            "script_name": request.script_name,
            "path_info": request.path_info}


def form(request):
    return {"name": request.POST.get("name"),
            "count": len(request.POST.getall("item"))}


def upload(request):
    """Length and sha256 of the body: request.body (?via=body), else
    request.body_file in pieces."""
    if request.GET.get("via") == "body":
        data = request.body
        n, digest = len(data), hashlib.sha256(data).hexdigest()
    else:
        h, n = hashlib.sha256(), 0
        while True:
            data = request.body_file.read(65536)
            if not data:
                break
            h.update(data)
            n += len(data)
        digest = h.hexdigest()
    return {"len": n, "sha256": digest,
            "content_length": request.content_length}


def make_app():
    with Configurator(package=PACKAGE) as config:
        config.add_route("home", "/")
        config.add_route("hello", "/hello/{name}")
        config.add_route("form", "/form")
        config.add_route("upload", "/upload")
        config.add_view(home, route_name="home")
        config.add_view(hello, route_name="hello", renderer="json")
        config.add_view(form, route_name="form", renderer="json",
                        request_method="POST")
        config.add_view(upload, route_name="upload", renderer="json",
                        request_method="POST")
        return config.make_wsgi_app()


application = make_app()
