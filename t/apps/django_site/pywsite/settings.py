"""Minimal Django settings: no database, no apps, DEBUG off."""
SECRET_KEY = "pyworker-test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "pywsite.urls"
INSTALLED_APPS = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {}
USE_TZ = True
TEMPLATES = []
LOGGING_CONFIG = None
