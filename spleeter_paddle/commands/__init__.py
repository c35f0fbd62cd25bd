"""Command implementations behind the CLI and the seed-compatible scripts."""
