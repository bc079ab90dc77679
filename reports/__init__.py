"""Statement builders: journal entries in, CSV / JSON / XML text out; no Flask or pymongo."""
