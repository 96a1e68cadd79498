"""`python -m textclf.export`: the command's body is textclf/commands/export.py."""

from textclf.commands.export import main

if __name__ == "__main__":
    main()
