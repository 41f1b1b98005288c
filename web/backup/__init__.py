"""Backup and restore of a box: Redis's rd:* keys, the SQL database, the config, and
(when asked) the secrets, in one archive (web/backup/archive.py)."""
