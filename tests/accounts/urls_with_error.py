"""The site's URLs plus one view that fails, to see the 500 page as a person would."""

from django.urls import path

from project.urls import urlpatterns as site_urlpatterns


def fail(request):
    raise RuntimeError("a bug in some view")


urlpatterns = [*site_urlpatterns, path("fail/", fail)]
