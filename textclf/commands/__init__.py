"""The commands, side by side: train, evaluate, predict, explain, export and serve.

Each module is one command's body on the floors below (inference/, training/, serving/...); none
imports another (tests/test_layering.py). Users run them as ``python -m textclf`` (train) and
``python -m textclf.<command>``, through the one-line entry modules beside this package.
"""
