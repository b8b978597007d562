"""The export step of ACME's order service, cut down: insert an export row and read back its id."""
import sqlite3
import sys

print(f"python {sys.version.split()[0]}, sqlite3 module on libsqlite3 {sqlite3.sqlite_version}")
db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE exports (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, created TEXT)")
# The service reads the generated key back in the same statement; SQLite parses RETURNING since 3.35.0.
row = db.execute(
    "INSERT INTO exports (customer, created) VALUES (?, datetime('now')) RETURNING id, created",
    ("ACME",),
).fetchone()
db.commit()
print(f"export {row[0]} created at {row[1]}")
