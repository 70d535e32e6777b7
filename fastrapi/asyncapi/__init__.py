"""AsyncAPI 3.0 for the WebSocket routes (what OpenAPI is for the HTTP ones): ``utils.get_asyncapi`` builds the
document from the routes and their declared message types, ``docs`` renders the page (AsyncAPI's React
component), ``serving`` is the app's part: ``app.asyncapi()``, ``/asyncapi.json`` and ``/asyncapi``.
"""
