"""Serve until SIGTERM or SIGINT; the one line on stdout is the URI, printed once listening."""
import argparse
import asyncio
import signal

from scripts.standin.adapter import SET_NAME, StandInServer


def parse_args():
    parser = argparse.ArgumentParser(prog="python -m scripts.standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017, help="0 picks a free port")
    parser.add_argument("--plain", action="store_true",
                        help="only the replica-set hello: mongoeco's own behaviour otherwise")
    parser.add_argument("--standalone", action="store_true",
                        help="answer hello as a standalone mongod (no replica set, no transactions)")
    return parser.parse_args()


async def serve(args):
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    server = StandInServer(host=args.host, port=args.port, plain=args.plain, standalone=args.standalone)
    address = await server.start()
    options = "" if args.standalone else f"?replicaSet={SET_NAME}"
    print(f"mongodb://{address.host}:{address.port}/{options}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


if __name__ == "__main__":
    asyncio.run(serve(parse_args()))
