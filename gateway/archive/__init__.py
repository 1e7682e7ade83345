"""The site's archive: every gateway's sessions in PostgreSQL (docs/gym.md).

psycopg enters the gateway here and nowhere else.
"""
