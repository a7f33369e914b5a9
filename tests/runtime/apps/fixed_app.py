"""The seed application written against the runtime."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from asyncloop_lint.runtime import mangum_handler, run
from common import CREATED, create_resource, loop_info

RESOURCE = run(create_resource())


async def index(request):
    return JSONResponse({"query": await RESOURCE.query(), "created": len(CREATED), **loop_info()})


app = Starlette(routes=[Route("/", index)])
handler = mangum_handler(app)
