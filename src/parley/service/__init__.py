"""The contract's rules: tags, get-or-create, identity scoping. No SQL, no HTTP."""
