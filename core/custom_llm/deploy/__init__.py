"""Deployment, `custom-llm export RUN --format FORMAT`: a run's model as a transformers folder, a GGUF file or
an Ollama Modelfile, with the GGUF writer and quantizer they use."""
