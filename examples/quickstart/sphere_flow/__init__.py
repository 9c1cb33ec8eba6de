"""Potential flow around a sphere: a project-local dataset and model for the quickstart.

`configs` holds the torch-free schemas (what the YAML's kinds name); `dataset` and `model` hold
the runtime classes that the schemas' targets point at.
"""
