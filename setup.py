"""Install the top-level folders as one import package: mmsearch.api is api/, and so on."""

from setuptools import find_packages, setup

FOLDERS = ("api", "workers", "encoders", "infra")

setup(
    package_dir={f"mmsearch.{folder}": folder for folder in FOLDERS},
    packages=[
        f"mmsearch.{package}"
        for package in find_packages(
            include=[f"{folder}*" for folder in FOLDERS],
            exclude=["infra.testing"],  # support for tests and benches, used from a checkout
        )
    ],
)
