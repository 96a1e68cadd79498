"""`python -m textclf.evaluate`: the command's body is textclf/commands/evaluate.py."""

from textclf.commands.evaluate import main

if __name__ == "__main__":
    main()
