"""``python -m custom_llm``: the same CLI, in the form torchrun and accelerate launch need."""

from custom_llm.cli import main

if __name__ == "__main__":
    main()
