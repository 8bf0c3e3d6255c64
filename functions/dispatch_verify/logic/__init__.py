"""The steps' decisions as plain functions over the models, with LiveKit and AWS behind ports."""
