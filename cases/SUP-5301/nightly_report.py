"""Umbrella's nightly report, reduced: the reporting role builds a scratch table in the default schema."""
import sys

import psycopg2

connection = psycopg2.connect(host="db", user="reporter", password="reporter", dbname="app")
with connection.cursor() as cursor:
    cursor.execute("SHOW server_version")
    print("server_version:", cursor.fetchone()[0])
    try:
        cursor.execute("CREATE TABLE report_cache (id int, total numeric)")
        cursor.execute("INSERT INTO report_cache VALUES (1, 42.0)")
    except psycopg2.Error as error:
        print("nightly report failed:", error.pgerror.strip(), file=sys.stderr)
        sys.exit(1)
connection.commit()
print("report_cache ready")
