# broken_import.wsgi - fails while being imported.
raise RuntimeError("pyw-secret-broken-import")


def application(environ, start_response):   # never reached
    start_response("200 OK", [])
    return [b"unreachable"]
