"""The programme evaluation: who was treated when (`programmes`), matched comparisons (`matching`), the
estimators (`event_study`, `synthetic_control`) and the experiment that runs them (`experiment`).

It reads the panel and the model-fitting machinery; the report reads it.
"""
