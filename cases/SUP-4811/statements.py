"""ACME's nightly statement job, cut down: read the host's settings, then render one statement."""
import configparser
import os
import sys
import time
from pathlib import Path

# Everything the differing atoms touch is read and printed, so a probe's log shows it was seen.
settings = configparser.RawConfigParser()  # raw: date_format holds '%' on purpose
settings.read(["/etc/acme/acme.ini", "/etc/acme/features.ini"])
server = settings["server"] if settings.has_section("server") else {}
print(f"python {sys.version.split()[0]}; mode={os.environ.get('ACME_MODE')} region={os.environ.get('ACME_REGION')} "
      f"log={os.environ.get('ACME_LOG_LEVEL')} workers={os.environ.get('ACME_WORKERS')} "
      f"tz={time.strftime('%Z')} timeout={server.get('timeout')} date_format={server.get('date_format')} "
      f"features={dict(settings['features']) if settings.has_section('features') else {}}", flush=True)
limits = [p for p in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes") if Path(p).exists()]
print("memory limit:", Path(limits[0]).read_text().strip() if limits else "unknown", flush=True)

import jinja2  # noqa: E402  (Jinja2 2.11 imports markupsafe.soft_unicode here)

template = jinja2.Environment(autoescape=True).from_string(
    "Statement for {{ customer }}: {{ lines | length }} lines, total {{ '%.2f' | format(lines | sum) }}"
)
print(template.render(customer="ACME <Treasury>", lines=[120.0, 80.5, 15.25]))
