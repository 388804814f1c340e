"""Deployment, ``custom-llm export RUN --format FORMAT``: one module per format (hf, gguf, ollama) beside
what they share: the request checks, the run's model, the tokenizer's layout, the GGUF writer and quantizer, the records."""
