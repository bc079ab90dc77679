"""docker-compose.yml and its three-member override: the wiring, read as data.

No Docker engine is needed. The same checks run on our own reading of the YAML
and, when a compose tool is installed, on the model that `config` resolves.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pymongo import uri_parser

ROOT = Path(__file__).resolve().parents[2]
BASE = "docker-compose.yml"
OVERRIDE = "docker-compose.replicaset.yml"
LAYOUTS = {"one member": ([BASE], ["mongo"]),
           "three members": ([BASE, OVERRIDE], ["mongo", "mongo2", "mongo3"])}


def load(name):
    return yaml.safe_load((ROOT / name).read_text())


def merge(base, override):
    """Compose's merge for what these files use: mappings merge, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def our_model(files):
    model = {}
    for name in files:
        model = merge(model, {k: v for k, v in load(name).items() if not k.startswith("x-")})
    return model


def option(command, flag):
    """The value after ``flag`` in a command list, or None."""
    return command[command.index(flag) + 1] if flag in command else None


def volume_source(service, target):
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, mounted = volume.get("source"), volume["target"]
        else:
            source, mounted = volume.split(":")[:2]
        if mounted == target:
            return source
    return None


def published_ports(service):
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append((str(port["published"]), str(port["target"])))
        else:
            host, _, container = str(port).rpartition(":")
            ports.append((host, container))
    return ports


def check_wiring(model, members):
    services = model["services"]
    mongo, api, tests = services["mongo"], services["api"], services["tests"]
    set_name = option(mongo["command"], "--replSet")
    assert set_name

    # The official image, a supported major release (8.0: supported until October 2029).
    image, _, tag = mongo["image"].partition(":")
    assert image == "mongo" and int(tag.split(".")[0]) >= 8, mongo["image"]

    # Every member: same image and set name, reachable from the network, its own named volume.
    hosts = [f"{name}:27017" for name in members]
    sources = []
    for name in members:
        member = services[name]
        assert member["image"] == mongo["image"]
        assert option(member["command"], "--replSet") == set_name
        assert "--bind_ip_all" in member["command"]
        sources.append(volume_source(member, "/data/db"))
        assert sources[-1] in model["volumes"], f"{name}: /data/db must be a named volume"
        assert not (model["volumes"][sources[-1]] or {}).get("external")
        assert tests["depends_on"][name]["condition"] == "service_healthy"
    assert len(set(sources)) == len(members), "two members would share one data directory"

    # The seed member initiates exactly these hosts, under the set name mongod runs with.
    assert mongo["environment"]["RS_MEMBERS"].split(",") == hosts
    script = mongo["healthcheck"]["test"][-1]
    assert f'rs.initiate({{_id: "{set_name}", members: hosts.map(' in script
    assert 'error.codeName !== "NotYetInitialized"' in script
    assert script.rstrip().endswith("if (!db.hello().primary) quit(1);")
    for name in members[1:]:  # the others never initiate; healthy once synced under a PRIMARY
        assert "RS_MEMBERS" not in (services[name].get("environment") or {})
        script = services[name]["healthcheck"]["test"][-1]
        assert "rs.initiate" not in script
        assert script.rstrip().endswith(
            "if (!hello.primary || !(hello.isWritablePrimary || hello.secondary)) quit(1);")

    # The API, the sweeper and the tests name the set and all its members.
    sweeper = services["sweeper"]
    assert sweeper["command"] == ["flask", "--app", "app", "ledger", "sweep"]
    assert sweeper["build"]["target"] == "runtime"
    for service in (api, sweeper, tests):
        parsed = uri_parser.parse_uri(service["environment"]["MONGO_URI"])
        options = {key.lower(): value for key, value in parsed["options"].items()}
        assert options["replicaset"] == set_name
        assert sorted(f"{host}:{port}" for host, port in parsed["nodelist"]) == sorted(hosts)
        assert service["depends_on"]["mongo"]["condition"] == "service_healthy"

    # The API listens on 0.0.0.0:8080 in the container, published as 8080.
    assert published_ports(api) == [("8080", "8080")]
    assert api["environment"]["HOST"] == "0.0.0.0" and str(api["environment"]["PORT"]) == "8080"
    assert api["build"]["target"] == "runtime"
    assert "ports" not in mongo, "MongoDB runs without authentication: keep it off the host"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_wiring(layout):
    files, members = LAYOUTS[layout]
    check_wiring(our_model(files), members)


def test_secrets_are_only_interpolated_never_written_down():
    environment = load(BASE)["services"]["api"]["environment"]
    assert environment["SECRET_KEY"] == "${SECRET_KEY:-}"
    assert environment["OPERATOR_TOKEN"] == "${OPERATOR_TOKEN:-}"


def test_tests_service_has_a_replica_set_and_a_standalone_server():
    services = load(BASE)["services"]
    tests, standalone = services["tests"], services["mongo-standalone"]
    assert tests["profiles"] == standalone["profiles"] == ["test"]
    assert tests["build"]["target"] == "test"
    host, port = uri_parser.parse_uri(tests["environment"]["MONGO_STANDALONE_URI"])["nodelist"][0]
    assert (host, port) == ("mongo-standalone", 27017)
    assert "--replSet" not in standalone["command"]
    assert tests["depends_on"]["mongo-standalone"]["condition"] == "service_healthy"


def test_env_example_documents_every_variable_the_compose_file_reads():
    documented = dict(re.findall(r"^([A-Z_]+)=(.*)$", (ROOT / ".env.example").read_text(), re.M))
    assert documented["SECRET_KEY"] == documented["OPERATOR_TOKEN"] == ""
    read = set()
    for name in (BASE, OVERRIDE):
        read |= set(re.findall(r"\$\{([A-Z_]+)", (ROOT / name).read_text()))
    assert read and read <= set(documented), read - set(documented)
    for ignore_file in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore_file).read_text().split(), ignore_file


def compose_tools():
    tools = []
    if shutil.which("docker-compose"):
        tools.append(pytest.param(["docker-compose"], id="docker-compose"))
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        tools.append(pytest.param(["docker", "compose"], id="docker compose"))
    return tools or [pytest.param(None, id="no tool", marks=pytest.mark.skip(
        reason="no compose tool: install Debian's docker-compose (.ci/run does when it can)"))]


def _is_compose_v1(tool):
    done = subprocess.run([*tool, "version", "--short"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip().startswith("1.")


def _files_for(tool, files, tmp_names):
    """The files as the tool should read them. Compose v1 (Debian's docker-compose 1.29, what
    .ci/run can install) predates healthcheck.start_interval (Compose 2.20, Engine 25), so for
    it that one key is left out of a copy beside the original (relative paths resolve the
    same); test_health_checks_back_off_after_start checks the key itself."""
    if not _is_compose_v1(tool):
        return list(files)
    names = []
    for name in files:
        model = load(name)
        for service in model.get("services", {}).values():
            (service.get("healthcheck") or {}).pop("start_interval", None)
        copy = ROOT / f".compose-v1-{name}"
        copy.write_text(yaml.safe_dump(model, sort_keys=False))
        tmp_names.append(copy)
        names.append(copy.name)
    return names


@pytest.mark.parametrize("tool", compose_tools())
@pytest.mark.parametrize("layout", LAYOUTS)
def test_compose_tool_accepts_the_files_and_resolves_the_same_wiring(tool, layout):
    files, members = LAYOUTS[layout]
    tmp_names = []
    try:
        names = _files_for(tool, files, tmp_names)
        # .env.example, not a developer's .env: the same answer everywhere, and no secret in the output.
        args = [*tool, "--env-file", ".env.example"] + [arg for name in names for arg in ("-f", name)]
        args += ["--profile", "test", "config"]
        env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "OPERATOR_TOKEN")}
        run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    finally:
        for path in tmp_names:
            path.unlink()
    assert run.returncode == 0, run.stderr
    check_wiring(yaml.safe_load(run.stdout), members)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_health_checks_back_off_after_start(layout):
    files, members = LAYOUTS[layout]
    services = our_model(files)["services"]
    for name in members + ["mongo-standalone"]:
        check = services[name]["healthcheck"]
        assert check["interval"] == "30s" and check["start_interval"] == "2s", name
        assert check["start_period"] == "60s", name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_indexes_are_built_once_by_a_one_shot_init_service_the_api_waits_for(layout):
    files, members = LAYOUTS[layout]
    services = our_model(files)["services"]
    init, api = services["init"], services["api"]
    assert init["command"] == ["flask", "--app", "app", "db", "init"]
    assert init["restart"] == "no"
    for waiting in (api, services["sweeper"], services["dispatcher"]):
        assert waiting["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert init["environment"]["MONGO_URI"] == api["environment"]["MONGO_URI"]


def test_the_dispatcher_is_its_own_service_on_the_replica_set():
    services = load(BASE)["services"]
    dispatcher, api = services["dispatcher"], services["api"]
    assert dispatcher["command"] == ["flask", "--app", "app", "events", "dispatch"]
    assert dispatcher["environment"]["MONGO_URI"] == api["environment"]["MONGO_URI"]
    assert dispatcher["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert "ports" not in dispatcher and dispatcher["build"]["target"] == "runtime"
