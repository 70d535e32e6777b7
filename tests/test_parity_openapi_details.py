"""OpenAPI details, with FastAPI's docs apps run through FastAPI and through FastrAPI:

- "OpenAPI Callbacks": the ``callback_url: Union[HttpUrl, None]`` query parameter stays a query parameter (a
  class pydantic validates is a scalar, as in FastAPI), the document is equal and the request works;
- "Sub Applications - Mounts": the mounted app's own document names its server ``/subapi``, and its docs
  page points at ``/subapi/openapi.json``.
"""
import warnings

import httpx
import pytest

from fastrapi.testclient import TestClient as OurClient

from docs_apps import both

fastapi = pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TheirClient


CALLBACKS_APP = '''
from typing import Union

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, HttpUrl

app = FastAPI()


class Invoice(BaseModel):
    id: str
    title: Union[str, None] = None
    customer: str
    total: float


class InvoiceEvent(BaseModel):
    description: str
    paid: bool


class InvoiceEventReceived(BaseModel):
    ok: bool


invoices_callback_router = APIRouter()


@invoices_callback_router.post(
    "{$callback_url}/invoices/{$request.body.id}", response_model=InvoiceEventReceived
)
def invoice_notification(body: InvoiceEvent):
    pass


@app.post("/invoices/", callbacks=invoices_callback_router.routes)
def create_invoice(invoice: Invoice, callback_url: Union[HttpUrl, None] = None):
    """
    Create an invoice.

    This will (let's imagine) let the API user (some external developer) create an
    invoice.

    And this path operation will:

    * Send the invoice to the client.
    * Collect the money from the client.
    * Send a notification back to the API user (the external developer), as a callback.
        * At this point is that the API user (the external developer) sends a
        notification back to the API user (the external developer), as a callback.
    """
    # Send the invoice, collect the money, send the notification (the callback)
    return {"msg": "Invoice received"}
'''

INVOICE = {"id": "fooinvoice", "customer": "John", "total": 100.0}


def test_callbacks_document_and_request(serve):
    theirs, ours = both(CALLBACKS_APP)
    document = ours["app"].openapi()
    assert document == theirs["app"].openapi()
    parameters = document["paths"]["/invoices/"]["post"]["parameters"]
    assert [(p["name"], p["in"]) for p in parameters] == [("callback_url", "query")]
    their_client, our_client = TheirClient(theirs["app"]), OurClient(ours["app"])
    srv = serve(ours["app"])
    for query in ("?callback_url=https://www.external.org/events", "", "?callback_url=not-a-url"):
        expected = their_client.post("/invoices/" + query, json=INVOICE)
        for answer in (our_client.post("/invoices/" + query, json=INVOICE),
                       httpx.post(srv.url + "/invoices/" + query, json=INVOICE)):
            assert (answer.status_code, answer.json()) == (expected.status_code, expected.json()), query
    assert expected.status_code == 422
    assert their_client.post("/invoices/?callback_url=https://x.org", json=INVOICE).json() == {"msg": "Invoice received"}


SUB_APP = '''
from fastapi import FastAPI

app = FastAPI()


@app.get("/app")
def read_main():
    return {"message": "Hello World from main app"}


subapi = FastAPI()


@subapi.get("/sub")
def read_sub():
    return {"message": "Hello World from sub API"}


app.mount("/subapi", subapi)
'''


def test_mounted_sub_application_servers(serve):
    theirs, ours = both(SUB_APP)
    their_client, our_client = TheirClient(theirs["app"]), OurClient(ours["app"])
    srv = serve(ours["app"])
    for url in ("/app", "/subapi/sub", "/openapi.json", "/subapi/openapi.json"):
        expected = their_client.get(url)
        for answer in (our_client.get(url), httpx.get(srv.url + url)):
            assert (answer.status_code, answer.json()) == (expected.status_code, expected.json()), url
    assert httpx.get(srv.url + "/subapi/openapi.json").json()["servers"] == [{"url": "/subapi"}]
    assert "servers" not in httpx.get(srv.url + "/openapi.json").json()
    page = httpx.get(srv.url + "/subapi/docs").text
    assert "url: '/subapi/openapi.json'" in page
    assert page == their_client.get("/subapi/docs").text
