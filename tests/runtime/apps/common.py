"""Shared pieces of the sample Lambda apps: a loop-bound resource and Lambda events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

CREATED: list["Pool"] = []


class Pool:
    """Stands in for a connection pool: bound to the loop that created it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        CREATED.append(self)

    async def query(self) -> str:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("Pool is attached to a different event loop")
        await asyncio.sleep(0)
        return "ok"


async def create_resource() -> Pool:
    await asyncio.sleep(0)
    return Pool()


def loop_info() -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    return {"loop_id": id(loop), "loop_type": f"{type(loop).__module__}.{type(loop).__qualname__}"}


def rest_v1(path: str = "/") -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": {"host": "example.com"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": {},
        "body": None,
        "isBase64Encoded": False,
    }


def http_v2(path: str = "/") -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "example.com"},
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "127.0.0.1"}},
        "body": None,
        "isBase64Encoded": False,
    }


def alb(path: str = "/") -> dict[str, Any]:
    return {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:region:123:targetgroup/t/1"}},
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": {},
        "headers": {"host": "example.com"},
        "body": "",
        "isBase64Encoded": False,
    }


EVENTS = {"rest_v1": rest_v1, "http_v2": http_v2, "alb": alb}


def decode(response: dict[str, Any]) -> Any:
    body = response.get("body") or ""
    try:
        return json.loads(body)
    except ValueError:
        return body
