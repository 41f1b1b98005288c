"""Staff todos: SQL, REST, and the live topic."""
