"""Data preparation, sources to token blocks: ingest with redaction and pseudonymous paths, the split,
canaries, the tokenizer, encoding and packing, and the Arrow storage every stage reads and writes."""
