"""The one packaging fact pyproject.toml cannot state: the repository's top-level `templates/`
folder (the only place the jinja2 templates live) ships inside the package as
`compiler/templates/`, so an installed mlopsc finds them (compiler.render.markdown.templates).
Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["compiler", "compiler.*"]), "compiler.templates"],
    package_dir={"compiler.templates": "templates"},
    package_data={"compiler": ["py.typed"], "compiler.templates": ["*.j2"]},
)
