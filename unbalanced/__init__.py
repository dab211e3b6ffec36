"""The study's code, one module per step the data takes (a module imports only from modules before it):

storage -> runtime -> synthetic -> files -> decode -> cache -> check -> splits -> datasets -> model -> training
-> metrics -> stats -> plots -> results

The notebooks import `helpers`, a façade that re-exports what they call; `unbalanced.runner` executes them.
"""
