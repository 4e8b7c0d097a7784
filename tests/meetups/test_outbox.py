"""Events reach the real outbox: enqueued to SQS (moto) after commit, and never when rolled back."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from project.meetups.flows import match_requests as flows
from project.notifications.models import Delivery

pytestmark = pytest.mark.django_db


def queued_delivery_ids(aws) -> set[int]:
    ids = set()
    while messages := aws.receive(max_messages=10):
        for message in messages:
            ids.add(json.loads(message["Body"])["delivery_id"])
            aws.client("sqs").delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return ids


def test_a_committed_request_is_enqueued_after_commit_and_a_rolled_back_one_never(
    aws, make_person, django_capture_on_commit_callbacks
):
    ann, bob, cid = make_person("Ann"), make_person("Bob"), make_person("Cid")

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            flows.send_match_request(ann, cid, "rolled back")
            raise RuntimeError
    assert queued_delivery_ids(aws) == set()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        request = flows.send_match_request(ann, bob, "hi")
        # Written, but nothing is in the queue before the commit.
        assert queued_delivery_ids(aws) == set()
    assert callbacks, "the outbox must wait for the commit"

    deliveries = Delivery.objects.filter(notification__user=bob, status=Delivery.Status.QUEUED)
    assert deliveries.exists()
    assert queued_delivery_ids(aws) == set(deliveries.values_list("pk", flat=True))
    assert not Delivery.objects.filter(notification__user=cid).exists()
    assert request.pk
