"""Static resources of the classifier: the domain dictionary and the stop-word list."""
