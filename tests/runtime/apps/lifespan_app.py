"""An app with an ASGI lifespan that counts its startups; MODE selects the adapter."""

import asyncio
import contextlib
import os

from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from asyncloop_lint.runtime import mangum_handler
from common import loop_info

STARTUPS = 0
SHUTDOWNS = 0


@contextlib.asynccontextmanager
async def lifespan(app):
    global STARTUPS, SHUTDOWNS
    STARTUPS += 1
    try:
        yield {"token": f"startup-{STARTUPS}"}
    finally:
        SHUTDOWNS += 1


async def index(request):
    return JSONResponse({"token": request.state.token, "startups": STARTUPS, **loop_info()})


app = Starlette(routes=[Route("/", index)], lifespan=lifespan)
if os.environ.get("MODE") == "plain":
    # Give Mangum a current loop so its get_event_loop() probe does not emit the
    # 3.12+ DeprecationWarning about implicitly creating one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    handler = Mangum(app, lifespan="auto")
else:
    handler = mangum_handler(app, lifespan_once=True)
