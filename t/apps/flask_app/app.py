"""A small Flask application (Debian's python3-flask)."""
import hashlib

from flask import Flask, jsonify, request, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return "flask ok\n", 200, {"Content-Type": "text/plain"}


@app.route("/json")
def as_json():
    return jsonify(framework="flask", items=[1, 2, 3],
                   script_root=request.script_root)


@app.route("/hello/<name>")
def hello(name):
    return jsonify(hello=name, url=url_for("hello", name="again"),
                   external=url_for("hello", name="again", _external=True))


@app.route("/form", methods=["POST"])
def form():
    return jsonify(name=request.form.get("name"),
                   items=request.form.getlist("item"),
                   upload=len(request.files["file"].read())
                   if "file" in request.files else None)


@app.route("/upload", methods=["POST"])
def upload():
    """Length and sha256 of the body: get_data() (?via=body), else
    request.stream in pieces."""
    if request.args.get("via") == "body":
        data = request.get_data()
        n, digest = len(data), hashlib.sha256(data).hexdigest()
    else:
        h, n = hashlib.sha256(), 0
        while True:
            data = request.stream.read(65536)
            if not data:
                break
            h.update(data)
            n += len(data)
        digest = h.hexdigest()
    return jsonify(len=n, sha256=digest,
                   content_length=request.content_length)


@app.route("/stream")
def stream():
    def gen():
        for i in range(3):
            yield "line %d\n" % i
    return app.response_class(gen(), mimetype="text/plain")


@app.route("/log")
def log():
    """app.logger: Flask's own handler writes to wsgi.errors through a
    werkzeug LocalProxy (t/test_logging.py)."""
    app.logger.warning("flask-log %s", request.args.get("m"))
    return "logged\n", 200, {"Content-Type": "text/plain"}
