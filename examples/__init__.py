"""Small voice apps, each an ordinary Vonage app, and the kit's worked examples.

The tests that drive them are in ``tests/kit/``; ``docs/testing.md`` walks through them.
"""
