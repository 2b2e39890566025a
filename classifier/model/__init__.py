"""The trained model shipped with dudao (written by `dudao train`)."""
