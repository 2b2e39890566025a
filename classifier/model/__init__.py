"""The trained model shipped with dudao.

Maintainers refresh it with `dudao train --out classifier/model` in a source checkout;
plain `dudao train` writes the configured model_path (or var/model) instead.
"""
