"""The wire stand-in: mongoeco's MongoDB wire server as the primary of a one-member replica
set, with MongoDB's transaction rules restored (adapter.py). Run by .venv-standin (Python
>= 3.13): `python -m scripts.standin --port N [--plain]`, or `make mongo-standin`."""
