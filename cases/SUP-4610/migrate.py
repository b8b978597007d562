"""The start of ACME's migration run, cut down: what alembic's env.py does before it connects."""
import sys

import alembic
import sqlalchemy
from alembic.config import Config
from sqlalchemy.engine import make_url

print(f"python {sys.version.split()[0]}, alembic {alembic.__version__}, sqlalchemy {sqlalchemy.__version__}",
      flush=True)
config = Config(sys.argv[1])
print("script_location:", config.get_main_option("script_location"), flush=True)
# env.py reads the URL exactly like this; configparser interpolates the value as it is read.
url = make_url(config.get_main_option("sqlalchemy.url"))
print("would migrate", url.render_as_string(hide_password=True))
