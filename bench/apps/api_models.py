"""Plain-Python parts of the dependency (GET /deps) and 30-field-body (POST /orders) scenarios,
shared by the three framework apps so that all of them validate exactly alike (pydantic v2 is in
every venv). The framework-specific parts (Depends, Header, Query, HTTPException) stay in each
app. Kept apart from common.py so that the bare ceiling servers do not import pydantic."""
from datetime import datetime
from enum import Enum
from typing import Optional

from pydantic import BaseModel, Field

# What the "settings" dependency returns: the API token the auth dependency checks.
SETTINGS: dict = {"api_token": "secret-token", "api_version": "v1"}


class DBSession:
    """Stand-in for a database session: opened per request by a dependency, closed afterwards."""

    def __init__(self) -> None:
        self.open = True

    def close(self) -> None:
        self.open = False


class OrderStatus(str, Enum):
    pending = "pending"
    paid = "paid"
    shipped = "shipped"
    cancelled = "cancelled"


class Currency(str, Enum):
    eur = "EUR"
    usd = "USD"
    gbp = "GBP"


class Address(BaseModel):
    """The nested model of the order body."""
    street: str = Field(max_length=100)
    city: str = Field(max_length=60)
    zip_code: str = Field(min_length=3, max_length=10)
    country: str = Field(min_length=2, max_length=2)


class Order(BaseModel):
    """The 30-field request body of POST /orders: mixed types, constraints, a nested model."""
    order_id: int = Field(gt=0)
    customer_id: int = Field(gt=0)
    customer_name: str = Field(min_length=1, max_length=100)
    customer_email: str = Field(max_length=254)
    status: OrderStatus
    currency: Currency
    created_at: datetime
    updated_at: Optional[datetime] = None
    subtotal: float = Field(ge=0)
    tax: float = Field(ge=0)
    shipping_cost: float = Field(ge=0)
    discount: float = Field(0.0, ge=0)
    total: float = Field(ge=0)
    item_count: int = Field(ge=1, le=1000)
    skus: list[str] = Field(min_length=1, max_length=100)
    tags: list[str] = []
    shipping_address: Address
    billing_address: Optional[Address] = None
    is_gift: bool = False
    gift_message: Optional[str] = Field(None, max_length=200)
    express: bool = False
    paid: bool
    payment_method: str = Field(max_length=20)
    coupon_code: Optional[str] = Field(None, max_length=32)
    notes: Optional[str] = Field(None, max_length=500)
    priority: int = Field(0, ge=0, le=5)
    weight_kg: float = Field(gt=0, le=1000)
    warehouse: str = Field(max_length=20)
    channel: str = "web"
    source_ip: Optional[str] = None


class StreamRow(BaseModel):
    """One item of the JSON Lines stream of GET /stream (stream-jsonl1000): validated per item."""
    id: int
    name: str
    price: float
    in_stock: bool


#: what GET /stream yields: 1,000 rows as a database would hand them over (dicts, validated as StreamRow)
STREAM_ROWS: list[dict] = [
    {"id": i, "name": f"item-{i}", "price": round(i * 1.25, 2), "in_stock": i % 3 != 0} for i in range(1000)
]


# --- POST /items (post-real): a pydantic body, an auth dependency reading a header, a response model
# that is not the input model (it drops `internal_note` and adds computed fields) -----------------------

#: the API keys the `current_account` dependency of POST /items accepts (header X-API-Key)
API_KEYS: dict = {"key-alice": {"id": 7, "name": "alice"}}


class ItemIn(BaseModel):
    """The request body of POST /items."""
    name: str = Field(min_length=1, max_length=100)
    price: float = Field(gt=0)
    quantity: int = Field(ge=1, le=1000)
    tags: list[str] = []
    internal_note: str = Field("", max_length=200)


class ItemOut(BaseModel):
    """The response model of POST /items: what a client may see (no internal_note), plus computed fields."""
    id: int
    name: str
    price: float
    quantity: int
    total: float
    tags: list[str]
    owner: str


def item_record(item: ItemIn, account: dict) -> dict:
    """What the handler of POST /items returns: the stored record, more fields than ItemOut lets out."""
    return {"id": 1001, "name": item.name, "price": item.price, "quantity": item.quantity,
            "total": round(item.price * item.quantity, 2), "tags": item.tags,
            "owner": account["name"], "owner_id": account["id"], "internal_note": item.internal_note}
