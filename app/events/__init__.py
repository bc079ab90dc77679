"""Events leaving the process: the dispatcher (fan-out, deliveries, background steps) and its
outbound calls (signed webhooks, e-mail). The event records themselves are the ledger's
(app/ledger/events.py): they are written in the unit of work of the change they describe."""
