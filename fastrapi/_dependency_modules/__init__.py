"""The submodules of ``fastrapi.dependencies`` (FastAPI's ``fastapi.dependencies.models`` and ``.utils``).

``fastrapi/dependencies.py`` is a module (the parameter solver); its ``__path__`` points here, so that
``import fastrapi.dependencies.utils`` finds ``utils.py`` in this directory.
"""
