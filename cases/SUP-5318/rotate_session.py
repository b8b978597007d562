"""Rotate a session token atomically, returning the old one: SET key value GET (Redis >= 6.2)."""
import sys

import redis

cache = redis.Redis(host="cache")
print("redis_version:", cache.info("server")["redis_version"])
cache.set("session:42", "token-1")
try:
    old = cache.set("session:42", "token-2", get=True)
except redis.ResponseError as error:
    print(f"SET session:42 token-2 GET failed: {error}", file=sys.stderr)
    sys.exit(1)
print("rotated session:42; old token", old.decode())
