"""Packaging for camservice.

The twistd plugin lives in ``twisted/plugins/`` (a directory without
``__init__.py``) and is shipped as a plain module of the ``twisted.plugins``
namespace, which is how Twisted discovers plugins.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (HERE / "camservice" / "__init__.py").read_text(),
    re.M,
).group(1)

setup(
    name="camservice",
    version=VERSION,
    description="Manage USB, network and virtual cameras over a WebSocket JSON-RPC API, streamed by MediaMTX",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["camservice", "camservice.*"]) + ["twisted.plugins"],
    package_data={
        "camservice.config": ["*.yaml", "*.json"],
        "camservice.cli": ["camctl.bash"],
        # the web console's files (hls.js vendored by tools/vendor-console.sh)
        "camservice.console": ["static/*.html", "static/*.js", "static/*.css", "static/*.svg",
                               "static/vendor/*.js", "static/vendor/*.txt"],
    },
    include_package_data=True,
    install_requires=[
        "twisted>=22.4",
        "autobahn>=22.7",
        "treq>=22.2",
        "pyudev>=0.24",
        "PyYAML>=6.0",
        # what camservice.schema's compiled validators are tested against;
        # the running service never imports it
        "jsonschema>=4.10",
        "PyJWT>=2.6",
        "prometheus-client>=0.16",
        "service-identity>=18.1",
    ],
    extras_require={
        "fast": ["orjson"],
        # the SSH manhole (manhole.enabled): twisted.conch's dependencies
        "manhole": ["twisted[conch]"],
        # the MQTT bridge (mqtt.enabled) and camctl fleet: paho-mqtt 1.6 (Debian 12) or 2.x
        "mqtt": ["paho-mqtt>=1.6"],
        # selenium drives Debian's chromium and chromedriver in tests/browser,
        # websocket-client its firefox-esr (WebDriver BiDi)
        "test": ["pytest", "pytest-twisted", "twisted[conch]", "paho-mqtt>=1.6", "selenium", "websocket-client"],
    },
    entry_points={
        "console_scripts": [
            "camservice-admin = camservice.admin:main",
            "camctl = camservice.cli.main:main",
        ],
    },
    classifiers=[
        "Framework :: Twisted",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Video :: Capture",
    ],
)
