from project.notifications import notify
from project.notifications.models import Delivery


def test_a_notification_reaches_telegram_and_email(make_person, lambda_sender, sandbox, django_capture_on_commit_callbacks, mailoutbox):
    person = make_person(telegram_id=5001, sandbox=sandbox)
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(person, "match_request_received", text="Ada would like to meet you.",
                              link="/requests/1/", buttons=[[{"text": "Accept", "callback_data": "mr:1:accept"}]])
    assert lambda_sender.drain() == 2
    deliveries = {d.channel: d for d in notification.deliveries.all()}
    assert deliveries["telegram"].status == Delivery.Status.SENT
    assert deliveries["email"].status == Delivery.Status.SENT
    [message] = sandbox.messages(5001)
    # A bold title, the text, the link behind words (issue 13 item 9).
    assert message["text"] == "Match request received\n\nAda would like to meet you.\n\nSee the request"
    assert message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "mr:1:accept"
    assert deliveries["telegram"].provider_message_id == str(message["message_id"])
    assert len(mailoutbox) == 1 and "Ada would like to meet you." in mailoutbox[0].body
