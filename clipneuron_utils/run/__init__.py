"""Running the book: the profiles, the chapters' parameters (checked before any kernel starts), the
papermill pipeline, the store of what chapters hand to each other, and the wall-time estimate.

The top floor: it may import everything; nothing imports it.
"""
