"""The directory import: read spreadsheets into validated rows, then upsert them by code.

headers.toml and headers.py name tables, columns and values; read.py opens CSV/XLSX files;
rows.py validates one row (pydantic models); checks.py checks rows together; files.py ties
these into `read_directory_files`; service.py checks references against the stored
directory and upserts through the `DirectoryStore` port (bot/ports.py, implemented by
storage/directory_store.py).
"""
