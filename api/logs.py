"""Structured logs: one JSON object per line on stderr, with the request id.

Only the fields we put in a record's ``extra`` are written besides time, level,
logger and message — never headers or bodies, so tokens, keys and household salts
cannot reach the logs through this path (receipt codes are masked by the caller).
"""

from __future__ import annotations

import json
import logging
import sys
import time

FIELDS = ("request_id", "method", "path", "status", "ms", "estate", "seq")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("trustledger")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
