"""Hypothesis runs derandomized by default, so CI and a developer see the same examples (a failure
found once is found every time until fixed). `pytest --hypothesis-profile=explore` searches afresh."""
from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("ci")
