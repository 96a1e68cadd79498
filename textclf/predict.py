"""`python -m textclf.predict`: the command's body is textclf/commands/predict.py."""

from textclf.commands.predict import main

if __name__ == "__main__":
    main()
