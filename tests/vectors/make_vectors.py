#!/usr/bin/python3
"""Writes the shared validation vectors: tests/vectors/commands/ and tests/vectors/events/
(one file per vector, the raw message bytes, and a manifest.tsv with the expected verdict and
a field the errors must name), and copies the command vectors into the fuzz seed corpus.

The expectations below are written by hand from the contract (DESIGN.md section 2); the
validator (tests/unit/test_validate.c) and the JSON Schemas (tests/schema/check_vectors.py)
are each checked against them. Run it after changing a vector; the output is deterministic.
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAX_BYTES = 65536

ARGON = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"


def dump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def cmd(ctype, data=None, drop=(), **attrs):
    """A command as bytes: the DESIGN.md example envelope with type, data and overrides.
    An attribute named in drop is removed; data=None leaves data out."""
    ev = {"specversion": "1.0", "id": "c-000123", "source": "billing", "type": ctype,
          "subject": "cust-1042", "time": "2026-11-28T10:00:00Z"}
    if data is not None:
        ev["data"] = data
    ev.update(attrs)
    for k in drop:
        ev.pop(k, None)
    return dump(ev)


def evt(etype, data, drop=(), **attrs):
    ev = {"specversion": "1.0", "id": "e-000123", "source": "tmprov", "type": etype,
          "subject": "cust-1042", "time": "2026-11-28T10:00:01Z", "commandid": "c-000123",
          "datacontenttype": "application/json", "data": data}
    ev.update(attrs)
    for k in drop:
        ev.pop(k, None)
    return dump(ev)


ACCT = {"company_name": "Acme", "email": "ops@acme.example", "rooms": 2, "participants": 25}
USER = {"user_id": "u-17", "email": "ann@acme.example", "first_name": "Ann", "last_name": "Lee"}
MEET = {"user_id": "u-17", "topic": "Weekly sync", "start_time": "2026-12-01T09:00:00Z"}


def acct(**kw):
    d = dict(ACCT)
    d.update(kw)
    return {k: v for k, v in d.items() if v is not Ellipsis}


def user(**kw):
    d = dict(USER)
    d.update(kw)
    return {k: v for k, v in d.items() if v is not Ellipsis}


def meet(**kw):
    d = dict(MEET)
    d.update(kw)
    return {k: v for k, v in d.items() if v is not Ellipsis}


def padded(n):
    """A valid account.create of exactly n bytes (trailing JSON whitespace)."""
    b = cmd("account.create", ACCT)
    return b + b" " * (n - len(b))


def nested(depth):
    return "[" * depth + "]" * depth


COMMANDS = [
    # ---- valid, every type
    ("ok-account-create.json", cmd("account.create", ACCT), "ok", "-"),
    ("ok-account-create-full.json",
     cmd("account.create", acct(company_name="Müller & Söhne GmbH 😀"),
         datacontenttype="application/json", replayof="c-000100"), "ok", "-"),
    ("ok-account-create-no-time.json", cmd("account.create", ACCT, drop=["time"]), "ok", "-"),
    ("ok-account-create-max-lengths.json",
     cmd("account.create", acct(company_name="é" * 128,
                                email="a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 61,
                                rooms=10000, participants=100000),
         id="x" * 128, subject="s" * 128, source="s" * 256), "ok", "-"),
    ("ok-account-create-min-values.json",
     cmd("account.create", acct(company_name="A", email="a@b.c", rooms=1, participants=1),
         id="1", subject="1", source="b"), "ok", "-"),
    ("ok-rooms-integral-real.json", cmd("account.create", acct(rooms=2.0, participants=25e0)),
     "ok", "-"),
    ("ok-account-update-one.json", cmd("account.update", {"rooms": 5}), "ok", "-"),
    ("ok-account-update-all.json", cmd("account.update", ACCT), "ok", "-"),
    ("ok-account-delete-absent.json", cmd("account.delete"), "ok", "-"),
    ("ok-account-delete-null.json", cmd("account.delete")[:-1] + b',"data":null}',
     "ok", "-"),
    ("ok-account-delete-empty.json", cmd("account.delete", {}), "ok", "-"),
    ("ok-account-query.json", cmd("account.query"), "ok", "-"),
    ("ok-user-upsert-password.json", cmd("user.upsert", user(password="correct horse")), "ok", "-"),
    ("ok-user-upsert-digest.json", cmd("user.upsert", user(password_digest=ARGON)), "ok", "-"),
    ("ok-user-upsert-no-password.json", cmd("user.upsert", USER), "ok", "-"),
    ("ok-user-delete.json", cmd("user.delete", {"user_id": "u-17"}), "ok", "-"),
    ("ok-meeting-schedule.json", cmd("meeting.schedule", MEET), "ok", "-"),
    ("ok-meeting-schedule-offset.json",
     cmd("meeting.schedule", meet(start_time="2028-02-29T09:30:00.123456789+05:30")), "ok", "-"),
    ("ok-meeting-schedule-2000-02-29.json",
     cmd("meeting.schedule", meet(start_time="2000-02-29T23:59:59-00:00")), "ok", "-"),
    ("ok-meeting-cancel.json", cmd("meeting.cancel", {"meeting_id": "884213"}), "ok", "-"),
    ("ok-extensions.json",
     cmd("meeting.cancel", {"meeting_id": "m.1"}, replayof="c-1", traceparent="00-abc",
         priority=3, ratio=0.5, dryrun=False), "ok", "-"),
    ("ok-pretty-printed.json",
     json.dumps(json.loads(cmd("account.create", ACCT)), indent=4).encode() + b"\n", "ok", "-"),
    ("ok-exactly-64k.json", padded(MAX_BYTES), "ok", "-"),
    ("ok-user-id-punctuation.json", cmd("user.delete", {"user_id": "a:b@c.d_e-f"}), "ok",
     "-"),

    # ---- size
    ("too-large.json", padded(MAX_BYTES + 1), "too_large", "message"),

    # ---- UTF-8 of the raw bytes
    ("not-utf8-overlong.bin",
     cmd("account.create", acct(company_name="AcmeX")).replace(b"AcmeX", b"Acme\xc0\xaf"),
     "not_utf8", "message"),
    ("not-utf8-overlong-3byte.bin",
     cmd("account.create", acct(company_name="AcmeX")).replace(b"AcmeX", b"Acme\xe0\x80\xaf"),
     "not_utf8", "message"),
    ("not-utf8-truncated.bin", cmd("account.create", ACCT)[:40] + b"\xe2\x82", "not_utf8",
     "message"),
    ("not-utf8-truncated-in-string.bin",
     cmd("account.create", acct(company_name="AcmeX")).replace(b"AcmeX", b"Acme\xe2\x82"),
     "not_utf8", "message"),
    ("not-utf8-surrogate.bin",
     cmd("account.create", acct(company_name="AcmeX")).replace(b"AcmeX", b"Acme\xed\xa0\x80"),
     "not_utf8", "message"),
    ("not-utf8-above-10ffff.bin",
     cmd("account.create", acct(company_name="AcmeX")).replace(b"AcmeX", b"Acme\xf4\x90\x80\x80"),
     "not_utf8", "message"),
    ("not-utf8-latin1.bin",
     cmd("account.create", acct(company_name="CafeX")).replace(b"CafeX", b"Caf\xe9"),
     "not_utf8", "message"),
    ("not-utf8-lone-continuation.bin", b"\x80" + cmd("account.query"), "not_utf8", "message"),

    # ---- JSON
    ("not-json-text.bin", b"hello, tmprov\n", "not_json", "message"),
    ("not-json-empty.bin", b"", "not_json", "message"),
    ("not-json-whitespace.bin", b" \n\t ", "not_json", "message"),
    ("not-json-truncated.json", cmd("account.create", ACCT)[:-2], "not_json", "message"),
    ("not-json-duplicate-key.json",
     cmd("account.create", ACCT)[:-1] + b',"subject":"cust-9"}', "not_json", "message"),
    ("not-json-duplicate-data-key.json",
     cmd("account.create", ACCT).replace(b'"rooms":2', b'"rooms":2,"rooms":3'), "not_json",
     "message"),
    ("not-json-nul-escape.json",
     cmd("account.create", acct(company_name="Acme\u0000Inc")), "not_json", "message"),
    ("not-json-nul-byte.bin", cmd("account.query") + b"\x00", "not_json", "message"),
    ("not-json-lone-surrogate-escape.json",
     cmd("account.create", acct(company_name="AcmeX")).replace(b"AcmeX", b"Acme\\ud800"),
     "not_json", "message"),
    ("not-json-big-integer.json",
     cmd("account.create", acct(rooms=7)).replace(b'"rooms":7', b'"rooms":99999999999999999999'),
     "not_json", "message"),
    ("not-json-real-overflow.json",
     cmd("account.create", acct(rooms=7)).replace(b'"rooms":7', b'"rooms":1e400'), "not_json",
     "message"),
    ("not-json-nan.json",
     cmd("account.create", acct(rooms=7)).replace(b'"rooms":7', b'"rooms":NaN'), "not_json",
     "message"),
    ("not-json-bom.bin", b"\xef\xbb\xbf" + cmd("account.query"), "not_json", "message"),
    ("not-json-trailing-comma.json", cmd("account.query")[:-1] + b",}", "not_json", "message"),
    ("not-json-single-quotes.json", b"{'specversion':'1.0'}", "not_json", "message"),
    ("not-json-two-documents.json", cmd("account.query") + cmd("account.query"), "not_json",
     "message"),
    ("not-json-deep.json",
     cmd("account.create", acct(x=0)).replace(b'"x":0', b'"x":' + nested(5000).encode()),
     "not_json", "message"),

    # ---- CloudEvents envelope
    ("nce-array.json", b"[" + cmd("account.query") + b"]", "not_cloudevent", "message"),
    ("nce-number.json", b"42", "not_cloudevent", "message"),
    ("nce-string.json", b'"account.create"', "not_cloudevent", "message"),
    ("nce-null.json", b"null", "not_cloudevent", "message"),
    ("nce-missing-specversion.json", cmd("account.create", ACCT, drop=["specversion"]),
     "not_cloudevent", "specversion"),
    ("nce-specversion-0.3.json", cmd("account.create", ACCT, specversion="0.3"),
     "not_cloudevent", "specversion"),
    ("nce-specversion-number.json", cmd("account.create", ACCT, specversion=1.0),
     "not_cloudevent", "specversion"),
    ("nce-missing-id.json", cmd("account.create", ACCT, drop=["id"]), "not_cloudevent", "id"),
    ("nce-id-with-space.json", cmd("account.create", ACCT, id="c 1"), "not_cloudevent", "id"),
    ("nce-id-empty.json", cmd("account.create", ACCT, id=""), "not_cloudevent", "id"),
    ("nce-id-too-long.json", cmd("account.create", ACCT, id="x" * 129), "not_cloudevent", "id"),
    ("nce-id-number.json", cmd("account.create", ACCT, id=123), "not_cloudevent", "id"),
    ("nce-missing-source.json", cmd("account.create", ACCT, drop=["source"]), "not_cloudevent",
     "source"),
    ("nce-source-too-long.json", cmd("account.create", ACCT, source="s" * 257),
     "not_cloudevent", "source"),
    ("nce-missing-type.json", cmd("account.create", ACCT, drop=["type"]), "not_cloudevent",
     "type"),
    ("nce-type-number.json", cmd("account.create", ACCT, type=7), "not_cloudevent", "type"),
    ("nce-type-with-space.json", cmd("account create", ACCT), "not_cloudevent", "type"),
    ("nce-missing-subject.json", cmd("account.create", ACCT, drop=["subject"]),
     "not_cloudevent", "subject"),
    ("nce-subject-with-space.json", cmd("account.create", ACCT, subject="cust 1042"),
     "not_cloudevent", "subject"),
    ("nce-subject-leading-dot.json", cmd("account.create", ACCT, subject=".cust"),
     "not_cloudevent", "subject"),
    ("nce-subject-trailing-newline.json", cmd("account.create", ACCT, subject="cust-1042\n"),
     "not_cloudevent", "subject"),
    ("nce-subject-too-long.json", cmd("account.create", ACCT, subject="s" * 129),
     "not_cloudevent", "subject"),
    ("nce-subject-unicode.json", cmd("account.create", ACCT, subject="kunde-ä"),
     "not_cloudevent", "subject"),
    ("nce-time-space.json", cmd("account.create", ACCT, time="2026-11-28 10:00:00Z"),
     "not_cloudevent", "time"),
    ("nce-time-no-zone.json", cmd("account.create", ACCT, time="2026-11-28T10:00:00"),
     "not_cloudevent", "time"),
    ("nce-time-number.json", cmd("account.create", ACCT, time=1764324000), "not_cloudevent",
     "time"),
    ("nce-datacontenttype-xml.json", cmd("account.create", ACCT, datacontenttype="text/xml"),
     "not_cloudevent", "datacontenttype"),
    ("nce-extension-bad-name.json", cmd("account.create", ACCT, Replay_Of="c-1"),
     "not_cloudevent", "Replay_Of"),
    ("nce-extension-name-too-long.json",
     cmd("account.create", ACCT, abcdefghijklmnopqrstu="x"), "not_cloudevent",
     "abcdefghijklmnopqrstu"),
    ("nce-extension-object.json", cmd("account.create", ACCT, replayof={"id": "c-1"}),
     "not_cloudevent", "replayof"),
    ("nce-extension-null.json", cmd("account.create", ACCT, replayof=None), "not_cloudevent",
     "replayof"),
    ("nce-data-base64.json", cmd("account.create", drop=[], data_base64="eyJhIjoxfQ=="),
     "not_cloudevent", "data_base64"),

    # ---- type
    ("unknown-type.json", cmd("account.purge", ACCT), "unknown_type", "type"),
    ("unknown-type-case.json", cmd("Account.Create", ACCT), "unknown_type", "type"),
    ("unknown-type-event-name.json", cmd("account.created", ACCT), "unknown_type", "type"),

    # ---- data: account.create
    ("invalid-create-no-data.json", cmd("account.create"), "invalid", "data"),
    ("invalid-create-data-null.json",
     cmd("account.create")[:-1] + b',"data":null}', "invalid", "data"),
    ("invalid-create-data-array.json", cmd("account.create", [ACCT]), "invalid", "data"),
    ("invalid-create-data-string.json", cmd("account.create", json.dumps(ACCT)), "invalid",
     "data"),
    ("invalid-create-missing-email.json", cmd("account.create", acct(email=...)), "invalid",
     "data.email"),
    ("invalid-create-missing-participants.json",
     cmd("account.create", acct(participants=...)), "invalid", "data.participants"),
    ("invalid-rooms-zero.json", cmd("account.create", acct(rooms=0)), "invalid", "data.rooms"),
    ("invalid-rooms-negative.json", cmd("account.create", acct(rooms=-3)), "invalid",
     "data.rooms"),
    ("invalid-rooms-float.json", cmd("account.create", acct(rooms=2.5)), "invalid",
     "data.rooms"),
    ("invalid-rooms-string.json", cmd("account.create", acct(rooms="2")), "invalid",
     "data.rooms"),
    ("invalid-rooms-too-many.json", cmd("account.create", acct(rooms=10001)), "invalid",
     "data.rooms"),
    ("invalid-rooms-null.json", cmd("account.create", acct(rooms=None)), "invalid",
     "data.rooms"),
    ("invalid-participants-bool.json", cmd("account.create", acct(participants=True)),
     "invalid", "data.participants"),
    ("invalid-participants-too-many.json", cmd("account.create", acct(participants=100001)),
     "invalid", "data.participants"),
    ("invalid-participants-huge-real.json", cmd("account.create", acct(participants=1e300)),
     "invalid", "data.participants"),
    ("invalid-company-name-empty.json", cmd("account.create", acct(company_name="")),
     "invalid", "data.company_name"),
    ("invalid-company-name-too-long.json", cmd("account.create", acct(company_name="é" * 129)),
     "invalid", "data.company_name"),
    ("invalid-company-name-tab.json", cmd("account.create", acct(company_name="Acme\tInc")),
     "invalid", "data.company_name"),
    ("invalid-company-name-newline-end.json",
     cmd("account.create", acct(company_name="Acme\n")), "invalid", "data.company_name"),
    ("invalid-company-name-number.json", cmd("account.create", acct(company_name=42)),
     "invalid", "data.company_name"),
    ("invalid-email-no-at.json", cmd("account.create", acct(email="ops.acme.example")),
     "invalid", "data.email"),
    ("invalid-email-no-dot.json", cmd("account.create", acct(email="ops@localhost")),
     "invalid", "data.email"),
    ("invalid-email-two-at.json", cmd("account.create", acct(email="ops@x@acme.example")),
     "invalid", "data.email"),
    ("invalid-email-space.json", cmd("account.create", acct(email="o ps@acme.example")),
     "invalid", "data.email"),
    ("invalid-email-label-hyphen.json", cmd("account.create", acct(email="ops@-acme.example")),
     "invalid", "data.email"),
    ("invalid-email-empty-label.json", cmd("account.create", acct(email="ops@acme..example")),
     "invalid", "data.email"),
    ("invalid-email-trailing-newline.json",
     cmd("account.create", acct(email="ops@acme.example\n")), "invalid", "data.email"),
    ("invalid-email-too-long.json",
     cmd("account.create", acct(email="a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 62)),
     "invalid", "data.email"),
    ("ok-email-plus-tag.json",
     cmd("account.create", acct(email="ops+billing@mail.acme-corp.example")), "ok", "-"),
    ("ok-email-specials.json",
     cmd("account.create", acct(email="o'brien{x}#1.2=3@b--c.d")), "ok", "-"),
    ("invalid-email-label-trailing-hyphen.json",
     cmd("account.create", acct(email="a@b-.c")), "invalid", "data.email"),
    ("invalid-email-trailing-dot.json", cmd("account.create", acct(email="a@b.c.")), "invalid",
     "data.email"),
    ("invalid-email-no-local-part.json", cmd("account.create", acct(email="@b.c")), "invalid",
     "data.email"),
    ("invalid-email-unicode.json", cmd("account.create", acct(email="\u00e4@b.c")), "invalid",
     "data.email"),
    ("ok-company-name-nbsp.json", cmd("account.create", acct(company_name="Acme\u00a0Inc")),
     "ok", "-"),
    ("invalid-company-name-del.json", cmd("account.create", acct(company_name="Acme\u007f")),
     "invalid", "data.company_name"),
    ("invalid-company-name-c1-last.json",
     cmd("account.create", acct(company_name="Acme\u009f")), "invalid", "data.company_name"),
    ("ok-user-upsert-digest-big-params.json",
     cmd("user.upsert", user(password_digest="$argon2id$v=19$m=4194304,t=10,p=16$AAAA$BBBB+/")),
     "ok", "-"),
    ("ok-password-unicode-8-chars.json", cmd("user.upsert", user(password="pässwörd")), "ok",
     "-"),
    ("invalid-upsert-digest-empty.json", cmd("user.upsert", user(password_digest="")),
     "invalid", "data.password_digest"),
    ("invalid-create-extra-field.json", cmd("account.create", acct(owner="bob")), "invalid",
     "data.owner"),
    ("invalid-create-company-uid.json",
     cmd("account.create", acct(company_uid="4f1c-77")), "invalid", "data.company_uid"),
    ("invalid-many-errors.json",
     cmd("account.create", {"f%02d" % i: i for i in range(30)}), "invalid", "data.f00"),
    ("invalid-deep-nesting.json",
     cmd("account.create", acct(x=0)).replace(b'"x":0', b'"x":' + nested(1000).encode()),
     "invalid", "data.x"),

    # ---- data: account.update, delete, query
    ("invalid-update-empty.json", cmd("account.update", {}), "invalid", "data"),
    ("invalid-update-no-data.json", cmd("account.update"), "invalid", "data"),
    ("invalid-update-extra.json", cmd("account.update", {"rooms": 3, "company_uid": "x"}),
     "invalid", "data.company_uid"),
    ("invalid-update-bad-email.json", cmd("account.update", {"email": "nobody"}), "invalid",
     "data.email"),
    ("invalid-delete-with-data.json", cmd("account.delete", {"company_name": "Acme"}),
     "invalid", "data.company_name"),
    ("invalid-delete-data-string.json", cmd("account.delete", ""), "invalid", "data"),
    ("invalid-query-data-array.json", cmd("account.query", []), "invalid", "data"),
    ("invalid-query-data-false.json", cmd("account.query", False), "invalid", "data"),

    # ---- data: user.upsert, user.delete
    ("invalid-upsert-both-passwords.json",
     cmd("user.upsert", user(password="correct horse", password_digest=ARGON)), "invalid",
     "data.password_digest"),
    ("invalid-upsert-short-password.json", cmd("user.upsert", user(password="1234567")),
     "invalid", "data.password"),
    ("invalid-upsert-long-password.json", cmd("user.upsert", user(password="p" * 257)),
     "invalid", "data.password"),
    ("invalid-upsert-digest-argon2i.json",
     cmd("user.upsert", user(password_digest=ARGON.replace("argon2id", "argon2i"))), "invalid",
     "data.password_digest"),
    ("invalid-upsert-digest-v16.json",
     cmd("user.upsert", user(password_digest=ARGON.replace("v=19", "v=16"))), "invalid",
     "data.password_digest"),
    ("invalid-upsert-digest-no-hash.json",
     cmd("user.upsert", user(password_digest=ARGON.rsplit("$", 1)[0] + "$")), "invalid",
     "data.password_digest"),
    ("invalid-upsert-missing-last-name.json", cmd("user.upsert", user(last_name=...)),
     "invalid", "data.last_name"),
    ("invalid-upsert-first-name-c1.json", cmd("user.upsert", user(first_name="Ann\u0085")),
     "invalid", "data.first_name"),
    ("invalid-upsert-name-too-long.json", cmd("user.upsert", user(last_name="L" * 65)),
     "invalid", "data.last_name"),
    ("invalid-upsert-extra.json", cmd("user.upsert", user(role="admin")), "invalid",
     "data.role"),
    ("invalid-user-id-leading-hyphen.json", cmd("user.delete", {"user_id": "-bob"}), "invalid",
     "data.user_id"),
    ("invalid-user-id-too-long.json", cmd("user.delete", {"user_id": "u" * 65}), "invalid",
     "data.user_id"),
    ("invalid-user-id-number.json", cmd("user.delete", {"user_id": 17}), "invalid",
     "data.user_id"),
    ("invalid-user-delete-empty.json", cmd("user.delete", {}), "invalid", "data.user_id"),

    # ---- data: meeting.schedule, meeting.cancel
    ("invalid-start-time-no-zone.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T09:00:00")), "invalid",
     "data.start_time"),
    ("invalid-start-time-date-only.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01")), "invalid", "data.start_time"),
    ("invalid-start-time-feb-30.json",
     cmd("meeting.schedule", meet(start_time="2026-02-30T09:00:00Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-feb-29-2027.json",
     cmd("meeting.schedule", meet(start_time="2027-02-29T09:00:00Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-feb-29-1900.json",
     cmd("meeting.schedule", meet(start_time="1900-02-29T09:00:00Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-april-31.json",
     cmd("meeting.schedule", meet(start_time="2026-04-31T09:00:00Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-hour-24.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T24:00:00Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-leap-second.json",
     cmd("meeting.schedule", meet(start_time="2026-12-31T23:59:60Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-lower-case.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01t09:00:00z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-ten-fraction-digits.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T09:00:00.0123456789Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-empty-fraction.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T09:00:00.Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-offset-no-colon.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T09:00:00+0530")), "invalid",
     "data.start_time"),
    ("invalid-start-time-tm-format.json",
     cmd("meeting.schedule", meet(start_time="2026/12/01 09:00")), "invalid",
     "data.start_time"),
    ("invalid-start-time-number.json", cmd("meeting.schedule", meet(start_time=1764579600)),
     "invalid", "data.start_time"),
    ("invalid-topic-too-long.json", cmd("meeting.schedule", meet(topic="t" * 257)), "invalid",
     "data.topic"),
    ("invalid-topic-missing.json", cmd("meeting.schedule", meet(topic=...)), "invalid",
     "data.topic"),
    ("ok-start-time-year-0000-02-29.json",
     cmd("meeting.schedule", meet(start_time="0000-02-29T00:00:00Z")), "ok", "-"),
    ("ok-start-time-9999-12-31.json",
     cmd("meeting.schedule", meet(start_time="9999-12-31T23:59:59.5-23:59")), "ok", "-"),
    ("ok-start-time-april-30.json",
     cmd("meeting.schedule", meet(start_time="2026-04-30T00:00:00+00:00")), "ok", "-"),
    ("invalid-start-time-offset-24.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T09:00:00+24:00")), "invalid",
     "data.start_time"),
    ("invalid-start-time-offset-minute-60.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T09:00:00-01:60")), "invalid",
     "data.start_time"),
    ("invalid-start-time-no-seconds.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T09:00Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-month-13.json",
     cmd("meeting.schedule", meet(start_time="2026-13-01T09:00:00Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-day-00.json",
     cmd("meeting.schedule", meet(start_time="2026-12-00T09:00:00Z")), "invalid",
     "data.start_time"),
    ("invalid-start-time-trailing-space.json",
     cmd("meeting.schedule", meet(start_time="2026-12-01T09:00:00Z ")), "invalid",
     "data.start_time"),
    ("invalid-start-time-unicode-digit.json",
     cmd("meeting.schedule", meet(start_time="2026-12-0\u0663T09:00:00Z")), "invalid",
     "data.start_time"),
    ("invalid-meeting-cancel-missing.json", cmd("meeting.cancel", {}), "invalid",
     "data.meeting_id"),
    ("invalid-meeting-id-object.json", cmd("meeting.cancel", {"meeting_id": {"id": 1}}),
     "invalid", "data.meeting_id"),
    ("invalid-meeting-cancel-extra.json",
     cmd("meeting.cancel", {"meeting_id": "1", "user_id": "u-17"}), "invalid", "data.user_id"),
]



def boundary_vectors():
    """For every data field of every command type, values at and just past the limits that
    schemas/common.json states (minLength/maxLength in code points, minimum/maximum): the
    verdicts follow from the schema, and the C validator's tables must agree at each one."""
    with open(os.path.join(ROOT, "schemas", "common.json")) as f:
        defs = json.load(f)["$defs"]
    base = {"account.create": ACCT, "account.update": {"rooms": 5}, "user.upsert": USER,
            "user.delete": {"user_id": "u-17"}, "meeting.schedule": MEET,
            "meeting.cancel": {"meeting_id": "884213"}}

    def string_of(defname, n):
        """A string of n code points that passes the pattern of defname, or None."""
        if defname in ("user_id", "meeting_id"):
            return "a" * n
        if defname in ("company_name", "person_name", "topic", "password"):
            return "\u00e9" * n  # two bytes each: limits count code points, not bytes
        if defname == "email":
            return "a" * (n - 5) + "@b.cd" if n >= 6 else None
        if defname == "password_digest":
            head = "$argon2id$v=19$m=1,t=1,p=1$"
            return head + "A" * (n - len(head) - 2) + "$B" if n >= len(head) + 3 else None
        return None

    out = []
    for ctype in sorted(base):
        with open(os.path.join(ROOT, "schemas", "data", ctype + ".json")) as f:
            props = json.load(f)["properties"]
        for field in sorted(props):
            defname = props[field]["$ref"].rsplit("/", 1)[1]
            d = defs[defname]
            cases = []
            if d.get("type") == "integer":
                cases = [("min", d["minimum"], "ok"), ("under", d["minimum"] - 1, "invalid"),
                         ("max", d["maximum"], "ok"), ("over", d["maximum"] + 1, "invalid")]
            elif d.get("type") == "string" and defname != "timestamp":
                for tag, n, want in (("min", d.get("minLength", 0), "ok"),
                                     ("under", d.get("minLength", 0) - 1, "invalid"),
                                     ("max", d["maxLength"], "ok"),
                                     ("over", d["maxLength"] + 1, "invalid")):
                    value = string_of(defname, n) if n >= 0 else None
                    if value is not None:
                        cases.append((tag, value, want))
            for tag, value, want in cases:
                data = dict(base[ctype])
                data[field] = value
                if ctype == "user.upsert" and field == "password":
                    data.pop("password_digest", None)
                out.append(("bound-%s-%s-%s.json" % (ctype, field, tag), cmd(ctype, data), want,
                            "-" if want == "ok" else "data." + field))
    return out


# ---- events
ACCT_EV = dict(ACCT, company_uid="4f1c2d9e-0000-4a6b-9c1e-1234567890ab")
EVENTS = [
    ("ok-account-created.json", evt("account.created", ACCT_EV), "ok", "-"),
    ("ok-account-updated.json", evt("account.updated", ACCT_EV), "ok", "-"),
    ("ok-account-deleted.json", evt("account.deleted", {"company_uid": "C-1"}), "ok", "-"),
    ("ok-account-queried-in-step.json",
     evt("account.queried", {"company_uid": "C-1", "tm": ACCT, "drift": []}), "ok", "-"),
    ("ok-account-queried-drift.json",
     evt("account.queried", {"company_uid": "C-1", "tm": dict(ACCT, rooms=3),
                             "drift": ["rooms"]}), "ok", "-"),
    ("ok-account-created-resolved.json",
     evt("account.created", dict(ACCT_EV, resolved_by_hand=True, resolves="c-000100"),
         commandid="c-000100.r1"), "ok", "-"),
    ("ok-account-drifted.json",
     evt("account.drifted", {"company_uid": "C-1", "result": "drifted",
                             "drift": [{"field": "rooms", "ours": 2, "tm": 9},
                                       {"field": "email", "ours": "ops@acme.example",
                                        "tm": "console@acme.example"}],
                             "checked_at": "2026-11-28T10:00:00.123Z"},
         commandid="reconcile-0123456789abcdef0123456789abcdef"), "ok", "-"),
    ("ok-account-drifted-missing.json",
     evt("account.drifted", {"company_uid": "C-1", "result": "missing", "drift": [],
                             "checked_at": "2026-11-28T10:00:00Z"}), "ok", "-"),
    ("ok-user-upserted.json", evt("user.upserted", {"user_id": "u-17"}), "ok", "-"),
    ("ok-user-deleted.json", evt("user.deleted", {"user_id": "u-17"}), "ok", "-"),
    ("ok-meeting-scheduled.json",
     evt("meeting.scheduled", dict(MEET, meeting_id="884213",
                                   join_url="http://127.0.0.1:8090/join/884213")), "ok", "-"),
    ("ok-meeting-scheduled-duplicate.json",
     evt("meeting.scheduled", dict(MEET, meeting_id="884213", possible_duplicate=True,
                                   join_url="https://meet.example/join/884213")), "ok", "-"),
    ("ok-meeting-canceled.json", evt("meeting.canceled", {"meeting_id": "884213"}), "ok", "-"),
    ("ok-command-failed.json",
     evt("command.failed", {"command_type": "account.create", "reason": "Company exists",
                            "retryable": False, "attempts": 1, "tm_status": "FAILED"}),
     "ok", "-"),
    ("ok-command-failed-unknown.json",
     evt("command.failed", {"command_type": "account.create", "reason": "timeout after send",
                            "retryable": False, "attempts": 1, "outcome_unknown": True}),
     "ok", "-"),
    ("ok-command-rejected.json",
     evt("command.rejected", {"errors": ["data.rooms: must be an integer from 1 to 10000"],
                              "reason": "invalid"}), "ok", "-"),
    ("ok-command-rejected-key-mismatch.json",
     evt("command.rejected", {"errors": ["key: must equal subject"],
                              "reason": "key_mismatch"}), "ok", "-"),
    ("ok-command-held.json",
     evt("command.held", {"command_type": "account.delete", "reason": "delete_guard",
                          "deletions": 20, "limit": 20, "window_seconds": 600}), "ok", "-"),
    ("ok-extra-fields.json",
     evt("account.deleted", {"company_uid": "C-1", "company_name": "Acme", "users_removed": 3},
         replayof="c-000100"), "ok", "-"),
    ("not-utf8-event.bin",
     evt("account.deleted", {"company_uid": "C-1"}).replace(b"C-1", b"C\xff1"), "not_utf8", "-"),
    ("not-json-event.json", evt("account.deleted", {"company_uid": "C-1"})[:-1], "not_json", "-"),
    ("nce-missing-commandid.json",
     evt("account.deleted", {"company_uid": "C-1"}, drop=["commandid"]), "not_cloudevent",
     "commandid"),
    ("nce-source-billing.json", evt("account.deleted", {"company_uid": "C-1"}, source="billing"),
     "not_cloudevent", "source"),
    ("nce-missing-data.json", evt("account.deleted", None, drop=["data"]), "not_cloudevent",
     "data"),
    ("nce-data-array.json", evt("account.deleted", []), "not_cloudevent", "data"),
    ("nce-bad-subject.json", evt("account.deleted", {"company_uid": "C-1"}, subject="a b"),
     "not_cloudevent", "subject"),
    ("unknown-event-type.json", evt("account.purged", {"company_uid": "C-1"}), "unknown_type",
     "type"),
    ("unknown-event-command-type.json", evt("account.create", ACCT), "unknown_type", "type"),
    ("invalid-created-no-company-uid.json", evt("account.created", ACCT), "invalid",
     "data.company_uid"),
    ("invalid-company-uid-37.json", evt("account.deleted", {"company_uid": "u" * 37}), "invalid",
     "data.company_uid"),
    ("invalid-queried-no-drift.json", evt("account.queried", {"company_uid": "C-1", "tm": ACCT}),
     "invalid", "data.drift"),
    ("invalid-queried-drift-unknown-field.json",
     evt("account.queried", {"company_uid": "C-1", "tm": ACCT, "drift": ["company_uid"]}),
     "invalid", "data.drift"),
    ("invalid-queried-drift-repeated.json",
     evt("account.queried", {"company_uid": "C-1", "tm": ACCT, "drift": ["rooms", "rooms"]}),
     "invalid", "data.drift"),
    ("invalid-queried-tm-rooms-string.json",
     evt("account.queried", {"company_uid": "C-1", "tm": dict(ACCT, rooms="2"), "drift": []}),
     "invalid", "data.tm.rooms"),
    ("invalid-created-resolved-no-resolves.json",
     evt("account.created", dict(ACCT_EV, resolved_by_hand=True)), "invalid", "data.resolves"),
    ("invalid-created-resolved-false.json",
     evt("account.created", dict(ACCT_EV, resolved_by_hand=False, resolves="c-1")), "invalid",
     "data.resolved_by_hand"),
    ("invalid-drifted-no-drift.json",
     evt("account.drifted", {"company_uid": "C-1", "result": "drifted", "drift": [],
                             "checked_at": "2026-11-28T10:00:00Z"}), "invalid", "data.drift"),
    ("invalid-drifted-result.json",
     evt("account.drifted", {"company_uid": "C-1", "result": "gone", "drift": [],
                             "checked_at": "2026-11-28T10:00:00Z"}), "invalid", "data.result"),
    ("invalid-drifted-field.json",
     evt("account.drifted", {"company_uid": "C-1", "result": "drifted",
                             "drift": [{"field": "company_uid", "ours": "a", "tm": "b"}],
                             "checked_at": "2026-11-28T10:00:00Z"}), "invalid", "data.drift"),
    ("invalid-upserted-with-password.json",
     evt("user.upserted", {"user_id": "u-17", "password": "correct horse"}), "invalid",
     "data.password"),
    ("invalid-scheduled-no-join-url.json",
     evt("meeting.scheduled", dict(MEET, meeting_id="884213")), "invalid", "data.join_url"),
    ("invalid-scheduled-ftp-join-url.json",
     evt("meeting.scheduled", dict(MEET, meeting_id="884213", join_url="ftp://x/join/1")),
     "invalid", "data.join_url"),
    ("invalid-failed-retryable-string.json",
     evt("command.failed", {"command_type": "account.create", "reason": "x",
                            "retryable": "no", "attempts": 1}), "invalid", "data.retryable"),
    ("invalid-failed-attempts-negative.json",
     evt("command.failed", {"command_type": "account.create", "reason": "x",
                            "retryable": True, "attempts": -1}), "invalid", "data.attempts"),
    ("invalid-held-reason-other.json",
     evt("command.held", {"command_type": "account.delete", "reason": "tired", "deletions": 20,
                          "limit": 20, "window_seconds": 600}), "invalid", "data.reason"),
    ("invalid-held-no-window.json",
     evt("command.held", {"command_type": "account.delete", "reason": "delete_guard",
                          "deletions": 20, "limit": 20}), "invalid", "data.window_seconds"),
    ("invalid-rejected-no-errors.json", evt("command.rejected", {"errors": []}), "invalid",
     "data.errors"),
    ("invalid-rejected-reason-ok.json",
     evt("command.rejected", {"errors": ["x: y"], "reason": "ok"}), "invalid", "data.reason"),
]


def write_set(folder, vectors):
    path = os.path.join(HERE, folder)
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    names = set()
    with open(os.path.join(path, "manifest.tsv"), "w") as m:
        m.write("# file\texpected status\ta field the errors must name (- for none)\n")
        for name, body, status, field in vectors:
            if name in names:
                sys.exit("duplicate vector name " + name)
            names.add(name)
            with open(os.path.join(path, name), "wb") as f:
                f.write(body)
            m.write("%s\t%s\t%s\n" % (name, status, field))
    return path


def main():
    COMMANDS.extend(boundary_vectors())
    commands = write_set("commands", COMMANDS)
    write_set("events", EVENTS)
    corpus = os.path.join(ROOT, "tests", "fuzz", "corpus", "fuzz_validate")
    if os.path.isdir(corpus):
        shutil.rmtree(corpus)
    os.makedirs(corpus)
    for name, _, _, _ in COMMANDS:
        shutil.copy(os.path.join(commands, name), os.path.join(corpus, name))
    print("%d command vectors, %d event vectors" % (len(COMMANDS), len(EVENTS)))


if __name__ == "__main__":
    main()
