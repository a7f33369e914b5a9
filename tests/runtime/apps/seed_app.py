"""The seed application: module-level asyncio.run() then a plain Mangum handler."""

import asyncio

from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from common import create_resource, loop_info

RESOURCE = asyncio.run(create_resource())  # creates a loop, runs, closes it


async def index(request):
    return JSONResponse({"query": await RESOURCE.query(), **loop_info()})


app = Starlette(routes=[Route("/", index)])
handler = Mangum(app)
