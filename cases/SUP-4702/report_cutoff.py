"""ACME's daily report job, cut down: compute today's 18:00 local cut-off in the server's timezone."""
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytz


def server_zone_name() -> str:
    """Like tzlocal: $TZ if set, else /etc/timezone (Debian), else UTC."""
    if os.environ.get("TZ"):
        return os.environ["TZ"].lstrip(":")
    path = Path("/etc/timezone")
    return path.read_text().strip() if path.exists() else "UTC"


zone = pytz.timezone(server_zone_name())
print(f"python {sys.version.split()[0]}, pytz {pytz.__version__}, server timezone {zone.zone}")
# The bug: tzinfo= with a pytz zone takes the zone's first historical offset (LMT), not today's.
cutoff = datetime(2024, 3, 15, 18, 0, tzinfo=zone)
right = zone.localize(datetime(2024, 3, 15, 18, 0))
print(f"cut-off {cutoff.isoformat()} = {cutoff.astimezone(timezone.utc):%H:%M} UTC")
print(f"(localize() gives {right.isoformat()} = {right.astimezone(timezone.utc):%H:%M} UTC)")
