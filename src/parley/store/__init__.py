"""SQL only: the tables, the queries, and the two database dialects behind one interface."""
