"""The render layer: every byte a target writes goes through one function per output language.

A string from the spec is data until the last moment, then escaped for the one language it
lands in: `yaml` (the YAML/JSON writer), `text` (comments and headers), `markdown` (documents,
Jinja environment), `actions` (GitHub Actions, GitLab CI, POSIX shell, CODEOWNERS) and
`gotemplate` (Prometheus annotations, Alertmanager). Targets never build these languages'
syntax around spec text by hand.
"""
