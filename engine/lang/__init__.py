"""The rule language: value types, the expression tree, its parser and its type checker."""
