"""The models a run starts from and ends with: the base that --base-model names (a registered name, a GGUF
file, a folder, a finished run) and its tokenizer, the scratch model, LoRA adapters, and the saved tuned model."""
