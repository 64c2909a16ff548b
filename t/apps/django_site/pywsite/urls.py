from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("json/", views.as_json, name="json"),
    path("hello/<str:name>/", views.hello, name="hello"),
    path("form/", views.form, name="form"),
    path("upload/", views.upload, name="upload"),
]
