"""The recommender: items with text and what users did with them -> a fine-tuned two-tower model and a hybrid ranker."""
