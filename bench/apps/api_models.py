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
