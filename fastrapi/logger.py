"""FastAPI's ``fastapi.logger``: the framework's logger (``fastrapi``; errors go to ``fastrapi.error``)."""
import logging

logger = logging.getLogger("fastrapi")
