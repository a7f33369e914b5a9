"""Import an app module, invoke its handler with Lambda events, print JSON lines.

usage: drive.py MODULE [--rounds N] [--stray-run] [--uvloop] [--shutdown]
"""

import argparse
import asyncio
import importlib
import json
import sys
import traceback

import common


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("module")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stray-run", action="store_true")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--shutdown", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        from asyncloop_lint.runtime import set_loop_factory

        set_loop_factory(uvloop.new_event_loop)
    try:
        module = importlib.import_module(args.module)
    except BaseException as exc:
        print(json.dumps({"phase": "import", "error": type(exc).__name__, "message": str(exc)}))
        return
    for round_no in range(args.rounds):
        for kind, make in common.EVENTS.items():
            record = {"phase": "invoke", "round": round_no, "event": kind}
            try:
                response = module.handler(make("/"), None)
            except BaseException as exc:
                record.update(error=type(exc).__name__, message=str(exc), tb=traceback.format_exc())
            else:
                record.update(status=response["statusCode"], body=common.decode(response))
            print(json.dumps(record), flush=True)
        if args.stray_run:
            asyncio.run(asyncio.sleep(0))
    extra = {"phase": "end", "created": len(common.CREATED)}
    for name in ("STARTUPS", "SHUTDOWNS"):
        if hasattr(module, name):
            extra[name.lower()] = getattr(module, name)
    if args.shutdown:
        from asyncloop_lint.runtime import shutdown

        shutdown()
        extra["shutdowns_after"] = getattr(module, "SHUTDOWNS", None)
    print(json.dumps(extra), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
