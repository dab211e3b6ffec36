"""The study's code, one module per step the data takes (a module imports only from modules before it):

storage -> locks -> runtime -> synthetic -> bundle -> files -> decode -> cache -> check -> splits -> datasets
-> model -> training -> tasks -> cluster -> metrics -> stats -> plots -> results -> store -> study

The notebooks import `helpers`, a façade that re-exports what they call; `unbalanced.runner` executes them.
"""
