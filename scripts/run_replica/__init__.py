"""`make run-replica`: the services of docker-compose.yml as processes here, on the wire stand-in.

``mongo`` is the stand-in (scripts/standin, in .venv-standin). Every other service of the
default profile runs the command compose gives it (api: the image's CMD, read from the
Dockerfile) with the environment compose gives it, interpolated from ours as compose does
(this module: ``plan``). What differs, because nothing here is a container:

* MONGO_URI names the stand-in (after checking that compose's names the same replica set);
* the API listens on HOST:PORT, 127.0.0.1:8080 unless set, as `make run`;
* each process also inherits this environment, so a setting of config.py exported here
  reaches them all (as a line added to every service's ``environment`` would);
* SECRET_KEY and OPERATOR_TOKEN, when unset, are generated for this run and the token is
  printed once (with MONGO_URI the app refuses to start without them);
* nothing restarts: a service that exits by itself ends the run.

One-shot services (``restart: "no"``: init) run first and must succeed. Ctrl-C, SIGTERM or
SIGHUP stops the services (SIGTERM, SIGKILL after their stop_grace_period; a second Ctrl-C
kills at once), the stand-in last (``supervisor``). Exit status: 0 after a requested stop in
which everything stopped in time; a failed one-shot's own status; 2 when docker-compose.yml
asks for what cannot be done here (a service of another image, interpolation it does not
read, another replica set's name); 1 for anything else.
"""
import re
import secrets
import sys
from pathlib import Path

import yaml
from pymongo import uri_parser

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent  # the app's venv, where flask and gunicorn are
STANDIN_SERVICE = "mongo"
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|h|m|s)")
SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}


class Service:
    """One process to run: a compose service's name, command, environment and grace period."""

    def __init__(self, name, argv, environment, grace_s, one_shot=False):
        self.name, self.argv, self.environment = name, argv, environment
        self.grace_s, self.one_shot = grace_s, one_shot


def read_deployment():
    """docker-compose.yml (as data) and the Dockerfile (as text)."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text()), (ROOT / "Dockerfile").read_text()


def plan(compose, dockerfile, environ, mongo_uri, host, port):
    """The services compose would start, one-shots first, as they run on this machine."""
    services = []
    for name, spec in compose["services"].items():
        if spec.get("profiles") or name == STANDIN_SERVICE:
            continue
        if "build" not in spec:
            raise ValueError(f"docker-compose.yml: service {name!r} is not the app's image; "
                             "run-replica does not know how to run it here")
        environment = {key: environ.get(key, "") if value is None else interpolate(value, environ)
                       for key, value in (spec.get("environment") or {}).items()}
        environment.update(local_overrides(environment, mongo_uri, host, port))
        argv = local_command([str(arg) for arg in spec.get("command") or image_command(dockerfile)])
        services.append(Service(name, argv, environment, seconds(spec.get("stop_grace_period", "10s")),
                                one_shot=spec.get("restart") == "no"))
    return sorted(services, key=lambda service: not service.one_shot)


def interpolate(text, environ):
    """Compose's ${NAME}, ${NAME:-default}, ${NAME-default} and $$; any other use of $ is refused."""
    text = str(text)
    if "$" in VARIABLE.sub("", text):
        raise ValueError(f"docker-compose.yml: {text!r} uses interpolation run-replica does not read")

    def value(match):
        name, op, default = match.group("name", "op", "default")
        if name is None:
            return "$"
        if op == ":-":
            return environ.get(name) or default
        return environ.get(name, default if op == "-" else "")
    return VARIABLE.sub(value, text)


def seconds(duration):
    """A compose duration ("30s", "1m30s") in seconds."""
    return sum(float(number) * SECONDS[unit] for number, unit in DURATION.findall(str(duration)))


def image_command(dockerfile):
    """The runtime stage's CMD (exec form) in the Dockerfile's text: what the api service runs."""
    stage = re.split(r"^FROM .* AS runtime$", dockerfile, flags=re.M)[-1]
    return yaml.safe_load(re.findall(r"^CMD (\[.*\])$", stage, flags=re.M)[-1])


def local_overrides(environment, mongo_uri, host, port):
    """The stand-in in place of the compose network's MongoDB; HOST and PORT as `make run`."""
    changed = {}
    if "MONGO_URI" in environment:
        wanted = uri_parser.parse_uri(environment["MONGO_URI"])["options"].get("replicaSet")
        served = uri_parser.parse_uri(mongo_uri)["options"].get("replicaSet")
        if wanted != served:
            raise ValueError(f"docker-compose.yml names replica set {wanted!r}; "
                             f"the stand-in serves {served!r}")
        changed["MONGO_URI"] = mongo_uri
    if "HOST" in environment:
        changed["HOST"] = host
    if "PORT" in environment:
        changed["PORT"] = str(port)
    return changed


def local_command(argv):
    """The app venv's executable; --worker-tmp-dir dropped where that directory does not exist."""
    if (BIN / argv[0]).exists():
        argv = [str(BIN / argv[0])] + argv[1:]
    if "--worker-tmp-dir" in argv:
        at = argv.index("--worker-tmp-dir")
        if not Path(argv[at + 1]).is_dir():
            argv = argv[:at] + argv[at + 2:]
    return argv


def settle_secrets(environ, say):
    """The environment with SECRET_KEY and OPERATOR_TOKEN for this run; a generated token is shown."""
    environ = dict(environ)
    if not environ.get("SECRET_KEY"):
        environ["SECRET_KEY"] = secrets.token_urlsafe(32)
    if not environ.get("OPERATOR_TOKEN"):
        environ["OPERATOR_TOKEN"] = secrets.token_urlsafe(32)
        say(f"OPERATOR_TOKEN was unset; generated for this run: {environ['OPERATOR_TOKEN']}")
    return environ
