"""Transfer: a high-level policy over frozen skills (docs/transfer.md)."""
