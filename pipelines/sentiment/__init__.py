"""Sentiment: a many-to-one recurrent classifier of texts (IMDB reviews, or any labelled texts)."""
