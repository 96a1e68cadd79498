"""`python -m textclf` trains (see textclf/train.py)."""

from textclf.train import main

if __name__ == "__main__":
    main()
