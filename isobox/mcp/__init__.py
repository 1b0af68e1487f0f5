"""isobox over the Model Context Protocol, so an agent can run code in a sandbox as a tool.

`tools` builds the MCP server (the `execute` and `list_languages` tools, their descriptions
and how a result becomes MCP content) over any `Sandbox`: a way to run a request and list
languages. Two programs give it one: `stdio` (`isobox mcp`, for a local agent) calls an isobox
server through `isobox.client`; the API mounts it at `/mcp` (`isobox.api.mcp_endpoint`) over
streamable HTTP and calls the service in-process.
"""
