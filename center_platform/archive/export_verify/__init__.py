"""The offline checker shipped inside every evidence package (verify.py, standard library only)."""
