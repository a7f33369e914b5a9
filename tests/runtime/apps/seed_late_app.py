"""Seed variant: Mangum is built first, then a module-level asyncio.run() runs."""

import asyncio

from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from common import create_resource, loop_info


async def index(request):
    return JSONResponse({"query": await RESOURCE.query(), **loop_info()})


app = Starlette(routes=[Route("/", index)])
handler = Mangum(app, lifespan="off")
RESOURCE = asyncio.run(create_resource())  # closes its loop and clears the current loop
