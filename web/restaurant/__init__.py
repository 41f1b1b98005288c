"""The restaurant's own data: floor tables, menu, inventory (SQL, served over REST)."""
