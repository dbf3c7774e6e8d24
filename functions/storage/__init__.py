"""Table and queue storage: the only code that knows entities and messages."""
