# Imported by express/app.wsgi; t/test_express.py rewrites TEXT.
TEXT = "one"
