"""data: the tables the pipeline reads (tables.py), where the raw table comes from (sources.py), the split into
train and holdout (split.py), the Great Expectations suite (suite.py drafts it, checks.py runs it, explain.py
says what failed), Data Docs made offline (data_docs.py), and bringing your own data (own_data.py, make data).

This face hands on the table readers every other data module builds on.
"""

from .tables import file_md5, read_table

__all__ = ["file_md5", "read_table"]
