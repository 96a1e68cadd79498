"""`python -m textclf.explain`: the command's body is textclf/commands/explain.py."""

from textclf.commands.explain import main

if __name__ == "__main__":
    main()
