"""OpenAPI support (FastAPI's ``fastapi.openapi``): ``utils.get_openapi`` builds the document from the routes,
``docs`` renders the Swagger UI / ReDoc pages, ``models`` holds the pydantic models of OpenAPI objects.

Kept import-free so that ``fastrapi.security`` can use ``models`` without pulling in the router.
"""
