"""A real MCP client (the official Python SDK, `mcp` on PyPI) for the gateway's tests.

Usage: mcp_client.py PLAN.json

PLAN: {"transports": [{"kind": "http", "url": ..., "key": ...} |
                      {"kind": "stdio", "command": ..., "args": [...], "env": {...}}],
       "calls": [{"name": tool, "arguments": {...}, "repeat": 2}]}

Connects over each transport, lists the tools, calls each tool `repeat` times and prints one
JSON document on stdout: per transport the tools (name, description, input and output
schemas) and per call every
attempt's structured result, text, isError, MCP error and latency in milliseconds. The Rust
test compares the numbers with Prometheus.
"""

import json
import sys
import time

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


async def exercise(session, calls):
    await session.initialize()
    listed = await session.list_tools()
    tools = [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema,
         "output_schema": t.output_schema}
        for t in listed.tools
    ]
    results = []
    for call in calls:
        attempts = []
        for _ in range(call.get("repeat", 1)):
            start = time.perf_counter()
            entry = {"structured": None, "text": None, "is_error": None, "error": None}
            try:
                r = await session.call_tool(call["name"], call.get("arguments") or {})
                entry["structured"] = r.structured_content
                entry["text"] = "\n".join(
                    c.text for c in r.content if getattr(c, "type", None) == "text"
                )
                entry["is_error"] = bool(r.is_error)
            except MCPError as e:
                entry["error"] = {"code": e.error.code, "message": e.error.message}
            entry["ms"] = (time.perf_counter() - start) * 1000.0
            attempts.append(entry)
        results.append({"name": call["name"], "attempts": attempts})
    return {"tools": tools, "calls": results}


async def over_http(t, calls):
    headers = {"Authorization": f"Bearer {t['key']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as client:
        async with streamable_http_client(t["url"], http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                return await exercise(session, calls)


async def over_stdio(t, calls):
    params = StdioServerParameters(command=t["command"], args=t["args"], env=t.get("env") or {})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            return await exercise(session, calls)


async def main(plan):
    out = {}
    for t in plan["transports"]:
        run = over_http if t["kind"] == "http" else over_stdio
        with anyio.fail_after(120):
            out[t["kind"]] = await run(t, plan["calls"])
    print(json.dumps(out))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        anyio.run(main, json.load(f))
