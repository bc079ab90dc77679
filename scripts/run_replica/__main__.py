"""Run the deployment's services here until Ctrl-C: see scripts/run_replica/__init__.py."""
import os
import signal
import sys

from scripts.run_replica import plan, read_deployment, settle_secrets
from scripts.run_replica.supervisor import ME, Supervisor, die_with_parent


def run(supervisor, environ, standin_port, host, port):
    """Start everything, then wait; the exit status so far (stopping may still spoil it)."""
    compose, dockerfile = read_deployment()
    mongo_uri = supervisor.start_standin(standin_port)
    if mongo_uri is None:
        return 0 if supervisor.stop_requested.is_set() else 1
    environ = settle_secrets(environ, lambda line: supervisor.say(ME, line))
    for service in plan(compose, dockerfile, environ, mongo_uri, host, port):
        env = dict(environ, PYTHONUNBUFFERED="1", **service.environment)
        if not service.one_shot:
            supervisor.spawn(service.name, service.argv, env, service.grace_s)
            continue
        status = supervisor.run_once(service.name, service.argv, env, service.grace_s)
        if status is None:
            return 0
        if status != 0:
            supervisor.say(ME, f"{service.name} failed (exit status {status}): nothing else is started")
            return status if status > 0 else 1
    supervisor.say(ME, f"the API: http://{host}:{port} (Ctrl-C stops everything)")
    exited = supervisor.wait()
    if exited is not None:
        supervisor.say(ME, f"{exited.name} exited by itself (status {exited.process.returncode}): "
                           "stopping the others")
        return 1
    return 0


def main():
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8080"))
    standin_port = int(os.environ.get("STANDIN_PORT") or 0)  # unset: a free port
    supervisor = Supervisor(sys.stdout)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, supervisor.on_signal)
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # it died before we asked to be told
        supervisor.on_signal(signal.SIGTERM, None)
    try:
        status = run(supervisor, os.environ, standin_port, host, port)
    except ValueError as exc:  # docker-compose.yml says something this runner cannot honour
        supervisor.say(ME, str(exc))
        status = 2
    finally:
        clean = supervisor.stop_all()
    supervisor.say(ME, "all stopped" + ("" if clean else ", not all cleanly: see above"))
    return status or (0 if clean else 1)


if __name__ == "__main__":
    sys.exit(main())
