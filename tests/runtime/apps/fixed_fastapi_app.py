"""The seed application, FastAPI flavour, written against the runtime."""

from fastapi import FastAPI

from asyncloop_lint.runtime import mangum_handler, run
from common import CREATED, create_resource, loop_info

RESOURCE = run(create_resource())
app = FastAPI()


@app.get("/")
async def index():
    return {"query": await RESOURCE.query(), "created": len(CREATED), **loop_info()}


handler = mangum_handler(app)
