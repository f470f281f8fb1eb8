"""Drives every operation of nginx/openapi.json through a Python client that openapi-python-client
generated from it (Tests/clients/run.sh generates, installs and starts the stack), and checks the
typed results: parsed models and enums, not raw dictionaries.

    python3 python_client_test.py --base-url http://127.0.0.1:PORT

Prints one line per check and 'N passed, M failed' at the end; exits 1 on any failure.
"""

import argparse
import base64
import sys
import traceback
import uuid

from contacts_api_client import AuthenticatedClient, Client
from contacts_api_client.api.contacts import (
    bulk_change,
    contact_history,
    contact_history_head,
    create_contact,
    delete_contact,
    get_contact,
    head_changes,
    head_contact,
    head_contacts,
    list_changes,
    list_contacts,
    stream_events,
    update_contact,
)
from contacts_api_client.api.documentation import get_open_api_document
from contacts_api_client.api.operations import ping, pool_status
from contacts_api_client.models import (
    BulkCreateOperation,
    BulkCreateOperationOp,
    BulkDeleteOperation,
    BulkDeleteOperationOp,
    BulkRequest,
    BulkResults,
    BulkUpdateOperation,
    BulkUpdateOperationOp,
    ChangeDelete,
    ChangeFeed,
    ChangeUpsert,
    Contact,
    ContactCreate,
    ContactList,
    ContactProjection,
    ContactType,
    ContactUpdate,
    Error,
    ErrorBody,
    FieldError,
    GetOpenApiDocumentResponse200,
    History,
    HistoryEntryOp,
    PoolStatusResponse200,
)
from contacts_api_client.types import UNSET

passed = 0
failed = 0


def check(name):
    """Runs the decorated function at once as one named check, counting it."""

    def run(function):
        global passed, failed
        try:
            function()
        except Exception:  # an assertion or a client that could not parse: both fail the check
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(limit=3, file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {name}")
        return function

    return run


def expect(condition, message=""):
    if not condition:
        raise AssertionError(message)


def expect_error(response, status, code):
    """A typed error answer: the status, an ErrorBody whose `error` is an Error with this code."""
    expect(response.status_code == status, f"status {response.status_code}, wanted {status}: {response.content[:300]!r}")
    expect(isinstance(response.parsed, ErrorBody), f"parsed {type(response.parsed)}")
    expect(isinstance(response.parsed.error, Error), f"error {type(response.parsed.error)}")
    expect(response.parsed.error.code == code, f"code {response.parsed.error.code}, wanted {code}")
    expect(isinstance(response.parsed.error.message, str) and response.parsed.error.message)
    return response.parsed.error


parser = argparse.ArgumentParser()
parser.add_argument("--base-url", required=True)
base_url = parser.parse_args().base_url


def as_user(user):
    token = base64.b64encode(f"{user}:{user}".encode()).decode()
    return AuthenticatedClient(base_url=base_url, token=token, prefix="Basic", timeout=30)


admin, agent, guest = as_user("admin"), as_user("agent"), as_user("guest")
anonymous = Client(base_url=base_url, timeout=30)
state = {}


# ------------------------------------------------------------------------------------ documents
@check("GET /contacts/openapi.json: the document, public")
def _():
    response = get_open_api_document.sync_detailed(client=anonymous)
    expect(response.status_code == 200)
    expect(isinstance(response.parsed, GetOpenApiDocumentResponse200))
    expect(response.parsed.additional_properties["openapi"].startswith("3.1"))
    expect([server["url"] for server in response.parsed.additional_properties["servers"]] == ["/"])


@check("GET /_contacts/ping and /_contacts/status (loopback)")
def _():
    pong = ping.sync_detailed(client=anonymous)
    expect(pong.status_code == 200 and pong.parsed == "pong\n", f"{pong.status_code} {pong.content!r}")
    status = pool_status.sync_detailed(client=anonymous)
    expect(status.status_code == 200 and isinstance(status.parsed, PoolStatusResponse200), f"{status.content[:200]!r}")
    expect(status.parsed.workers.configured >= 1)


@check("GET /contacts/_changes without since: a starting cursor")
def _():
    response = list_changes.sync_detailed(client=agent)
    expect(response.status_code == 200 and isinstance(response.parsed, ChangeFeed), f"{response.content[:200]!r}")
    expect(response.parsed.changes == [])
    state["cursor"] = response.parsed.cursor


# ------------------------------------------------------------------------------------ listings
@check("GET /contacts: every contact, typed")
def _():
    response = list_contacts.sync_detailed(client=agent)
    expect(response.status_code == 200, f"{response.status_code}")
    listing = response.parsed
    expect(isinstance(listing, ContactList))
    expect(len(listing.contacts) > 10)
    expect(all(isinstance(c, ContactProjection) and isinstance(c.type_, ContactType) for c in listing.contacts))
    expect({c.type_ for c in listing.contacts} >= {ContactType.QUEUE, ContactType.USER})
    expect(int(response.headers["X-Total-Count"]) == len(listing.contacts))
    expect(response.headers["X-Contacts-Permissions"] == "read")
    expect(response.headers["Cache-Control"] == "private, no-cache")
    state["listing_etag"] = response.headers["ETag"]
    state["listing_length"] = len(response.content)


@check("GET /contacts with each filter")
def _():
    def ids(**filters):
        response = list_contacts.sync_detailed(client=agent, **filters)
        expect(response.status_code == 200 and isinstance(response.parsed, ContactList), f"{filters}: {response.content[:200]!r}")
        return [c.id for c in response.parsed.contacts]

    expect(ids(id=["user-001"]) == ["user-001"])
    expect(ids(name=["alice johnson"]) == ["user-001"])
    expect(ids(user_name=["AJOHNSON"]) == ["user-001"])
    expect(ids(first_name=["Alice"], last_name=["Johnson"]) == ["user-001"])
    expect(ids(employee_id=["e01000"]) == ["user-001"])
    expect(ids(phone_number=["1-555-200-1000"]) == ["user-001"])
    queues = ids(type_=["queue"])
    expect("queue-sales" in queues and all(i.startswith("queue-") for i in queues), f"{queues}")
    both = ids(type_=["Queue", "User"])
    expect(set(queues) < set(both))
    expect("user-001" in ids(q="johnson"))
    expect("queue-sales" in ids(q="8005550100"))


@check("GET /contacts with limit and offset: pages, Link, X-Total-Count")
def _():
    first = list_contacts.sync_detailed(client=agent, type_=["User"], limit=2)
    expect(first.status_code == 200 and len(first.parsed.contacts) == 2)
    total = int(first.headers["X-Total-Count"])
    expect(total > 2)
    expect('offset=2>; rel="next"' in first.headers["Link"], first.headers.get("Link"))
    second = list_contacts.sync_detailed(client=agent, type_=["User"], limit=2, offset=2)
    expect(second.status_code == 200 and len(second.parsed.contacts) == 2)
    expect(not {c.id for c in first.parsed.contacts} & {c.id for c in second.parsed.contacts})
    # No default offset in the document: the client sends none, so its listing is the plain query's.
    raw = agent.get_httpx_client().get("/contacts", params={"type": "User", "limit": "2"})
    expect(raw.headers["ETag"] == first.headers["ETag"], f"{raw.headers['ETag']} != {first.headers['ETag']}")


@check("GET /contacts with sortBy, order and fields")
def _():
    response = list_contacts.sync_detailed(
        client=agent, type_=["User"], sort_by="lastName,firstName", order="Descending", fields="lastName,firstName"
    )
    expect(response.status_code == 200, f"{response.content[:300]!r}")
    contacts = response.parsed.contacts
    expect(all(c.name is UNSET and c.type_ is UNSET and c.phone_number is UNSET for c in contacts))
    keys = [(c.last_name.lower(), c.first_name.lower(), c.id) for c in contacts]
    expect(keys == sorted(keys, reverse=True), f"{keys[:5]}")
    projected = list_contacts.sync_detailed(client=agent, id=["queue-sales"], fields="name,phoneNumber")
    sales = projected.parsed.contacts[0]
    expect(isinstance(sales, ContactProjection))
    expect((sales.id, sales.name, sales.type_) == ("queue-sales", "Sales", UNSET), f"{sales}")
    expect(sales.phone_number == "+1 800 555 0100")


@check("GET /contacts with If-None-Match: 304; If-Match not matching: 412")
def _():
    response = list_contacts.sync_detailed(client=agent, if_none_match=state["listing_etag"])
    expect(response.status_code == 304 and response.parsed is None and response.content == b"")
    expect_error(list_contacts.sync_detailed(client=agent, if_match='"x"'), 412, "precondition_failed")


@check("HEAD /contacts: the GET's headers, no body; 304; a HEAD error has no body")
def _():
    response = head_contacts.sync_detailed(client=agent)
    expect(response.status_code == 200 and response.content == b"")
    expect(response.headers["ETag"] == state["listing_etag"])
    # httpx asks for gzip: the listing's gzip bytes, with their own tag, as the GET had them.
    # Uncompressed, the HEAD's Content-Length is the length of the GET's decoded body, and the tag
    # the identity one (the same without "-gzip").
    expect(response.headers.get("Content-Encoding") == "gzip" and state["listing_etag"].endswith('-gzip"'))
    expect(head_contacts.sync_detailed(client=agent, if_none_match=state["listing_etag"]).status_code == 304)
    # A client of its own: with_headers would change the shared agent client's headers too.
    identity_agent = as_user("agent").with_headers({"Accept-Encoding": "identity"})
    uncompressed = head_contacts.sync_detailed(client=identity_agent)
    expect(int(uncompressed.headers["Content-Length"]) == state["listing_length"])
    expect(uncompressed.headers.get("Content-Encoding") is None)
    identity_etag = state["listing_etag"].removesuffix('-gzip"') + '"'
    expect(uncompressed.headers["ETag"] == identity_etag)
    # Without gzip, only the identity tag gives 304 (docs/decisions.md).
    expect(head_contacts.sync_detailed(client=identity_agent, if_none_match=identity_etag).status_code == 304)
    expect(head_contacts.sync_detailed(client=identity_agent, if_none_match=state["listing_etag"]).status_code == 200)
    bad = head_contacts.sync_detailed(client=agent, type_=["Colour"])
    expect(bad.status_code == 400 and bad.parsed is None)
    expect(head_contacts.sync_detailed(client=anonymous).status_code == 401)


# ------------------------------------------------------------------------------------ one contact
@check("GET /contacts/{id}: a user, typed; with fields; 304")
def _():
    response = get_contact.sync_detailed("user-001", client=agent)
    expect(response.status_code == 200, f"{response.content[:200]!r}")
    user = response.parsed
    expect(isinstance(user, ContactProjection) and user.type_ is ContactType.USER)
    expect((user.user_name, user.first_name, user.employee_id) == ("ajohnson", "Alice", "E01000"))
    projected = get_contact.sync_detailed("user-001", client=agent, fields="name")
    expect(projected.status_code == 200)
    expect((projected.parsed.id, projected.parsed.name, projected.parsed.type_) == ("user-001", "Alice Johnson", UNSET))
    expect(projected.headers["ETag"] != response.headers["ETag"])
    again = get_contact.sync_detailed("user-001", client=agent, if_none_match=response.headers["ETag"])
    expect(again.status_code == 304 and again.parsed is None)
    state["user_etag"] = response.headers["ETag"]


@check("HEAD /contacts/{id}: 200 with the ETag; 404 without a body (the client does not crash)")
def _():
    response = head_contact.sync_detailed("user-001", client=agent)
    expect(response.status_code == 200 and response.headers["ETag"] == state["user_etag"])
    missing = head_contact.sync_detailed("nope", client=agent)
    expect(missing.status_code == 404 and missing.parsed is None and missing.content == b"")
    expect(head_contact.sync_detailed("user-001", client=agent, if_match='"x"').status_code == 412)


@check("POST /contacts: 201, a typed Contact, Location and ETag")
def _():
    response = create_contact.sync_detailed(client=admin, body=ContactCreate(name="Client Test", phone_number="555 0100"))
    expect(response.status_code == 201, f"{response.content[:300]!r}")
    contact = response.parsed
    expect(isinstance(contact, Contact) and contact.type_ is ContactType.CUSTOM)
    expect(len(contact.id) == 32 and contact.name == "Client Test" and contact.phone_number == "555 0100")
    expect(response.headers["Location"] == f"/contacts/{contact.id}")
    state["id"], state["etag"] = contact.id, response.headers["ETag"]


@check("POST /contacts with Idempotency-Key: replayed, and 422 for another request with it")
def _():
    key = f"client-test-{uuid.uuid4()}"
    body = ContactCreate(name="Keyed", phone_number="555 0101", type_="custom")
    first = create_contact.sync_detailed(client=admin, body=body, idempotency_key=key)
    expect(first.status_code == 201 and isinstance(first.parsed, Contact), f"{first.content[:300]!r}")
    expect("Idempotent-Replayed" not in first.headers)
    replay = create_contact.sync_detailed(client=admin, body=body, idempotency_key=key)
    expect(replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true")
    expect(replay.parsed.id == first.parsed.id)
    other = create_contact.sync_detailed(client=admin, body=ContactCreate(name="Other", phone_number="1"), idempotency_key=key)
    expect_error(other, 422, "idempotency_key_reused")
    expect_error(
        create_contact.sync_detailed(client=admin, body=body, idempotency_key="two words"), 400, "invalid_idempotency_key"
    )
    state["keyed_id"] = first.parsed.id


@check("PUT /contacts/{id} with If-Match: 200, a typed Contact; a stale If-Match: 412")
def _():
    response = update_contact.sync_detailed(
        state["id"], client=admin, body=ContactUpdate(name="Client Test 2"), if_match=state["etag"]
    )
    expect(response.status_code == 200, f"{response.content[:300]!r}")
    expect(isinstance(response.parsed, Contact) and response.parsed.name == "Client Test 2")
    expect(response.parsed.phone_number == "555 0100")
    expect(response.headers["ETag"] != state["etag"])
    stale = update_contact.sync_detailed(state["id"], client=admin, body=ContactUpdate(phone_number="1"), if_match=state["etag"])
    expect_error(stale, 412, "precondition_failed")
    state["etag"] = response.headers["ETag"]
    both = update_contact.sync_detailed(
        state["id"], client=admin, body=ContactUpdate(name="Client Test 3", phone_number="555 0102", id=state["id"], type_="Custom")
    )
    expect(both.status_code == 200 and both.parsed.phone_number == "555 0102", f"{both.content[:300]!r}")
    state["etag"] = both.headers["ETag"]


@check("PUT /contacts/{id}: 400 with fields, 405 on a queue, 404")
def _():
    error = expect_error(update_contact.sync_detailed(state["id"], client=admin, body=ContactUpdate()), 400, "validation_failed")
    bad = expect_error(update_contact.sync_detailed(state["id"], client=admin, body=ContactUpdate(name=" ")), 400, "validation_failed")
    expect(all(isinstance(f, FieldError) for f in bad.fields) and bad.fields[0].field == "name", f"{bad.fields}")
    expect(error.message)
    queue = update_contact.sync_detailed("queue-sales", client=admin, body=ContactUpdate(name="X"))
    expect_error(queue, 405, "method_not_allowed")
    expect(queue.headers["Allow"] == "GET, HEAD")
    expect_error(update_contact.sync_detailed("nope", client=admin, body=ContactUpdate(name="X")), 404, "not_found")


@check("DELETE /contacts/{id}: 412 with a stale If-Match, 204 with the current one, then 404")
def _():
    expect_error(delete_contact.sync_detailed(state["keyed_id"], client=admin, if_match='"stale"'), 412, "precondition_failed")
    keyed = get_contact.sync_detailed(state["keyed_id"], client=admin)
    response = delete_contact.sync_detailed(state["keyed_id"], client=admin, if_match=keyed.headers["ETag"])
    expect(response.status_code == 204 and response.content == b"")
    expect_error(get_contact.sync_detailed(state["keyed_id"], client=admin), 404, "not_found")
    expect_error(delete_contact.sync_detailed("queue-sales", client=admin), 405, "method_not_allowed")


# ------------------------------------------------------------------------------------ bulk
@check("POST /contacts/_bulk: a create, an update with ifMatch, a delete")
def _():
    target = create_contact.sync_detailed(client=admin, body=ContactCreate(name="Bulk Target", phone_number="2"))
    state["bulk_deleted"] = target.parsed.id
    body = BulkRequest(
        operations=[
            BulkCreateOperation(op=BulkCreateOperationOp.CREATE, contact=ContactCreate(name="Bulk One", phone_number="3")),
            BulkUpdateOperation(
                op=BulkUpdateOperationOp.UPDATE, id=state["id"], contact=ContactUpdate(phone_number="555 0103"), if_match=state["etag"]
            ),
            BulkDeleteOperation(op=BulkDeleteOperationOp.DELETE, id=target.parsed.id, if_match=target.headers["ETag"]),
        ]
    )
    response = bulk_change.sync_detailed(client=admin, body=body, idempotency_key=f"bulk-{uuid.uuid4()}")
    expect(response.status_code == 200 and isinstance(response.parsed, BulkResults), f"{response.content[:300]!r}")
    results = response.parsed.results
    expect([r.status for r in results] == [201, 200, 204], f"{[r.status for r in results]}")
    expect(isinstance(results[0].contact, Contact) and results[0].contact.name == "Bulk One")
    expect(isinstance(results[1].contact, Contact) and results[1].contact.phone_number == "555 0103")
    expect(results[1].etag and results[2].contact is UNSET)
    state["etag"] = results[1].etag


@check("POST /contacts/_bulk atomic with a failing operation: 424 for the others, nothing applied")
def _():
    body = BulkRequest(
        atomic=True,
        operations=[
            BulkCreateOperation(op=BulkCreateOperationOp.CREATE, contact=ContactCreate(name="Never", phone_number="4")),
            BulkUpdateOperation(op=BulkUpdateOperationOp.UPDATE, id=state["id"], contact=ContactUpdate(name="N"), if_match='"stale"'),
        ],
    )
    response = bulk_change.sync_detailed(client=admin, body=body)
    expect(response.status_code == 200, f"{response.content[:300]!r}")
    results = response.parsed.results
    expect([r.status for r in results] == [424, 412], f"{[r.status for r in results]}")
    expect(isinstance(results[0].error, Error) and results[0].error.code == "not_applied")
    expect(results[1].error.code == "precondition_failed")
    expect(list_contacts.sync_detailed(client=admin, name=["Never"]).parsed.contacts == [])
    expect_error(bulk_change.sync_detailed(client=admin, body=BulkRequest(operations=[])), 400, "invalid_bulk")
    expect_error(bulk_change.sync_detailed(client=agent, body=body), 403, "forbidden")


# ------------------------------------------------------------------------------------ the feed
@check("GET /contacts/_changes since a cursor: typed upserts and deletes, limit and Link, 304")
def _():
    response = list_changes.sync_detailed(client=agent, since=state["cursor"])
    expect(response.status_code == 200 and isinstance(response.parsed, ChangeFeed), f"{response.content[:300]!r}")
    changes = response.parsed.changes
    upserts = {c.contact.id: c.contact for c in changes if isinstance(c, ChangeUpsert)}
    deletes = {c.id for c in changes if isinstance(c, ChangeDelete)}
    expect(all(isinstance(c, (ChangeUpsert, ChangeDelete)) for c in changes))
    expect(isinstance(upserts[state["id"]], Contact) and upserts[state["id"]].phone_number == "555 0103")
    expect({state["keyed_id"], state["bulk_deleted"]} <= deletes, f"{deletes}")
    expect(response.headers["X-Contacts-Cursor"] == response.parsed.cursor)
    page = list_changes.sync_detailed(client=agent, since=state["cursor"], limit=1)
    expect(page.status_code == 200 and len(page.parsed.changes) == 1 and 'rel="next"' in page.headers["Link"])
    again = list_changes.sync_detailed(client=agent, since=state["cursor"], if_none_match=response.headers["ETag"])
    expect(again.status_code == 304 and again.parsed is None)
    head = head_changes.sync_detailed(client=agent, since=state["cursor"])
    expect(head.status_code == 200 and head.content == b"" and head.headers["ETag"] == response.headers["ETag"])
    expect(head_changes.sync_detailed(client=agent, since="bogus").status_code == 400)
    expect_error(list_changes.sync_detailed(client=agent, since="bogus"), 400, "invalid_cursor")
    expect_error(list_changes.sync_detailed(client=guest), 403, "forbidden")


@check("GET /contacts/_events: 401 without identity, 406 for an Accept that excludes text/event-stream")
def _():
    expect_error(stream_events.sync_detailed(client=anonymous, accept="text/event-stream"), 401, "unauthenticated")
    expect_error(stream_events.sync_detailed(client=agent, accept="application/json"), 406, "not_acceptable")


# ------------------------------------------------------------------------------------ history
@check("GET and HEAD /contacts/{id}/history: typed entries; 403 for an agent; 404")
def _():
    response = contact_history.sync_detailed(state["id"], client=admin)
    expect(response.status_code == 200 and isinstance(response.parsed, History), f"{response.content[:300]!r}")
    entries = response.parsed.history
    expect([e.op for e in entries] == [HistoryEntryOp.CREATE] + [HistoryEntryOp.UPDATE] * 3, f"{[e.op for e in entries]}")
    expect(all(e.by == "admin" and isinstance(e.contact, Contact) for e in entries))
    expect(entries[0].at.tzinfo is not None and entries[0].at <= entries[-1].at)
    deleted = contact_history.sync_detailed(state["keyed_id"], client=admin).parsed.history
    expect(deleted[-1].op is HistoryEntryOp.DELETE and deleted[-1].contact is UNSET)
    head = contact_history_head.sync_detailed(state["id"], client=admin)
    expect(head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) == len(response.content))
    expect_error(contact_history.sync_detailed(state["id"], client=agent), 403, "forbidden")
    expect_error(contact_history.sync_detailed("never-was", client=admin), 404, "not_found")
    expect(contact_history_head.sync_detailed("never-was", client=admin).status_code == 404)


# ------------------------------------------------------------------------------------ errors
@check("errors: 401, 403, 404, 400 invalid_query and validation_failed, typed (405: see PUT and DELETE)")
def _():
    unauthenticated = list_contacts.sync_detailed(client=anonymous)
    expect_error(unauthenticated, 401, "unauthenticated")
    expect(unauthenticated.headers["WWW-Authenticate"].startswith("Basic"))
    expect_error(list_contacts.sync_detailed(client=guest), 403, "forbidden")
    expect_error(get_contact.sync_detailed("user-001", client=guest), 403, "forbidden")
    expect_error(create_contact.sync_detailed(client=agent, body=ContactCreate(name="A", phone_number="1")), 403, "forbidden")
    expect_error(delete_contact.sync_detailed(state["id"], client=agent), 403, "forbidden")
    expect_error(get_contact.sync_detailed("nope", client=agent), 404, "not_found")
    query = expect_error(list_contacts.sync_detailed(client=agent, type_=["Colour"]), 400, "invalid_query")
    expect(isinstance(query.fields[0], FieldError) and query.fields[0].field == "type", f"{query.fields}")
    expect_error(list_contacts.sync_detailed(client=agent, sort_by="colour"), 400, "invalid_query")
    expect_error(get_contact.sync_detailed("user-001", client=agent, fields="*,name"), 400, "invalid_query")
    body = expect_error(create_contact.sync_detailed(client=admin, body=ContactCreate(name="", phone_number="none")), 400, "validation_failed")
    expect({f.field for f in body.fields} == {"name", "phoneNumber"}, f"{body.fields}")


print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
