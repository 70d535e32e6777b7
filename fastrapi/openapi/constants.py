"""Constants of the OpenAPI generator (FastAPI's ``fastapi.openapi.constants``)."""
METHODS_WITH_BODY = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}
REF_PREFIX = "#/components/schemas/"
REF_TEMPLATE = "#/components/schemas/{model}"
#: where FastrAPI publishes its document besides FastAPI's ``/openapi.json``
FASTRAPI_OPENAPI_URL = "/api-docs/openapi.json"
