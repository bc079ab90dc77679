"""The tenant layer cannot be bypassed: only storage, the health checks, the metrics and ``db init``
reach the engine beneath it (app.extensions["storage"]); every other module gets a tenant's view
(flask.g.store) or every tenant's, which writes nothing that does not name its tenant."""
import pathlib
import re

APP = pathlib.Path(__file__).resolve().parents[2] / "app"
# The modules that may hold the engine itself, and why.
ENGINE_USERS = {
    "routes/health.py": "pings it (GET /ready) and names it (GET /health)",
    "web/observability.py": "reads its retry and conflict counters for /metrics",
    "factory.py": "names it in the start-up banner",
    "cli.py": "db init: indexes, migrations and the seed, beneath any tenant",
}
RAW = re.compile(r'extensions\[["\']storage["\']\]|from pymongo import .*MongoClient|'
                 r'app\.storage\.(mongo|embedded)')


def test_only_the_listed_modules_reach_the_engine():
    found = {str(path.relative_to(APP)) for path in APP.rglob("*.py") if RAW.search(path.read_text())}
    outside = {name for name in found if not name.startswith("storage/")}
    assert outside == set(ENGINE_USERS), sorted(outside ^ set(ENGINE_USERS))


def test_views_use_the_request_tenants_store():
    for path in (APP / "routes").glob("*.py"):
        assert 'extensions["store"]' not in path.read_text(), path.name
