"""``evalkit-export``: run folders as a Hub-ready dataset (Parquet + dataset card)."""
