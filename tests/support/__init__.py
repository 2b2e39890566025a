"""Helpers shared by the test layers; test modules import from here, never from each other.

clock: a settable clock. fakes: the in-memory ports. worlds: the office world on a real
database. services: the case-service world. reminders: reminder helpers on it. migrations: raw
SQL for migration tests. outbox: an outbox row as shown. classifier: a synthetic corpus.
e2e: the whole bot against the local Bot API. office_e2e: office end-to-end helpers.
"""
