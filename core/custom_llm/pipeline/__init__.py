"""The stages of a run: ingest, prepare, split, tokenize/pack, train, evaluate, export."""
