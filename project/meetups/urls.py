from django.urls import path

from project.meetups import views

app_name = "meetups"
urlpatterns = [
    path("people/", views.people, name="people"),
    path("people/profile/", views.profile, name="profile"),
    path("people/<int:user_id>/request/", views.send_request, name="send_request"),
    path("requests/", views.requests, name="requests"),
    path("requests/<int:request_id>/answer/", views.answer_request, name="answer_request"),
    path("requests/<int:request_id>/withdraw/", views.withdraw_request, name="withdraw_request"),
    path("meetups/", views.meetups, name="meetups"),
    path("meetups/new/", views.create_meetup, name="create"),
    path("meetups/<int:meetup_id>/", views.meetup_detail, name="detail"),
    path("meetups/<int:meetup_id>/edit/", views.edit_meetup, name="edit"),
    path("meetups/<int:meetup_id>/cancel/", views.cancel_meetup, name="cancel"),
    path("meetups/<int:meetup_id>/invite/", views.invite, name="invite"),
    path("meetups/<int:meetup_id>/rsvp/", views.rsvp, name="rsvp"),
]
