"""`python -m textclf.serve`: the command's body is textclf/commands/serve.py."""

from textclf.commands.serve import main

if __name__ == "__main__":
    main()
