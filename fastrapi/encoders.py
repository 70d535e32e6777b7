"""jsonable_encoder: turn pydantic models, dataclasses, sets, Decimals... into JSON-ready Python data."""
from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import pathlib
import uuid
from typing import Any

from pydantic import BaseModel


def jsonable_encoder(obj: Any) -> Any:
    """Convert ``obj`` into data orjson/json can encode, the way FastAPI's encoder does for common types."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, enum.Enum):
        return jsonable_encoder(obj.value)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, dict):
        return {jsonable_encoder(k): jsonable_encoder(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable_encoder(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable_encoder(dataclasses.asdict(obj))
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, datetime.timedelta):
        return obj.total_seconds()
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj.as_tuple().exponent >= 0 else float(obj)  # type: ignore[operator]
    if isinstance(obj, (uuid.UUID, pathlib.PurePath)):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    if hasattr(obj, "__iter__"):
        return [jsonable_encoder(v) for v in obj]
    if hasattr(obj, "__dict__"):
        return jsonable_encoder(vars(obj))
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
