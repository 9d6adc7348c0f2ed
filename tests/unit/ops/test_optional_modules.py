"""Libraries of features left off stay out of ``twistd camservice``; TLS
still works when it is configured."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from camservice.config import load_config
from camservice.ops.optional_modules import TLS_MODULES, _unused_modules, UNUSED_MODULES, ModuleBlock, is_blocked, modules_to_keep_out
from helpers.certs import CertificateAuthority
from helpers.twistd_probe import probe_built_service

ROOT = Path(__file__).resolve().parents[2]

WATCH = ["OpenSSL", "service_identity", "twisted.internet.ssl", "twisted.protocols.tls",
         "camservice.security.tls", "twisted.internet.reactor", "camservice.app", "treq", "cryptography",
         "cbor2", "autobahn.twisted", "autobahn.websocket.protocol", "jwt", "chardet"]


def built_modules(config_path: Path) -> dict:
    """Which of ``WATCH`` a real ``twistd camservice`` holds once its tree is built."""
    return probe_built_service(
        config_path,
        before="""
            assert not any(sys.modules.get(name) for name in ARGS["watch"] if name != "camservice.tap")
        """,
        body="""
            report.update({name: sys.modules.get(name) is not None for name in ARGS["watch"]})
        """,
        args={"watch": WATCH})


def run_python(code: str) -> subprocess.CompletedProcess:
    """``code`` run by a fresh interpreter of this venv; it must succeed."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(ROOT.parent))
    assert out.returncode == 0, out.stderr
    return out


def test_without_tls_the_service_is_built_without_tls_libraries(write_config):
    loaded = built_modules(write_config({"discovery": {"mode": "disabled"}}))
    assert loaded["twisted.internet.reactor"] and loaded["camservice.app"]
    assert not any(loaded[name] for name in ("OpenSSL", "service_identity", "twisted.internet.ssl",
                                             "twisted.protocols.tls", "camservice.security.tls",
                                             "cryptography", "cbor2", "chardet"))
    # the WebSocket server is Autobahn's protocol on an adapter of its own
    assert loaded["autobahn.websocket.protocol"] and loaded["jwt"] and not loaded["autobahn.twisted"]


def test_tokens_are_signed_and_checked_without_cryptography(tmp_path):
    # what the service does with cryptography kept out: HS256 needs only hmac
    code = (
        "import sys; sys.modules['cryptography'] = None\n"
        "import time\n"
        "from camservice.auth.roles import Role\n"
        "from camservice.auth.tokens import TokenAuthority\n"
        "class Clock:\n"
        "    seconds = staticmethod(time.time)\n"
        "tokens = TokenAuthority('s' * 32, Clock())\n"
        "p = tokens.verify(tokens.issue('alice', Role.operator, 60))\n"
        "print(p.user_id, p.role.name, 'cryptography' in sys.modules and sys.modules['cryptography'] is None)\n"
    )
    out = run_python(code)
    assert out.stdout.split() == ["alice", "operator", "True"]


def test_with_tls_the_service_has_them(write_config, tmp_path):
    cert, key = CertificateAuthority().server().write(tmp_path, "server")
    loaded = built_modules(write_config({
        "discovery": {"mode": "disabled"},
        "server": {"tls": {"certificate": str(cert), "private_key": str(key)}},
    }))
    assert loaded["OpenSSL"] and loaded["twisted.protocols.tls"] and loaded["camservice.security.tls"]
    assert loaded["cryptography"] and not loaded["cbor2"]


def test_with_the_manhole_nothing_is_kept_out(write_config, tmp_path):
    keys = tmp_path / "authorized_keys"
    keys.write_text("")
    config = load_config(write_config({"manhole": {"enabled": True, "authorized_keys_file": str(keys)}}))
    assert modules_to_keep_out(config) == UNUSED_MODULES


def test_tls_libraries_are_kept_out_only_with_tls_and_the_manhole_off(write_config, tmp_path):
    assert modules_to_keep_out(load_config(write_config({}))) == UNUSED_MODULES + TLS_MODULES
    cert, key = CertificateAuthority().server().write(tmp_path, "server")
    tls = load_config(write_config({"server": {"tls": {"certificate": str(cert), "private_key": str(key)}}}))
    assert modules_to_keep_out(tls) == UNUSED_MODULES


def test_a_blocked_module_cannot_be_imported_until_released():
    modules = dict(sys.modules)
    name = "camservice_test_never_a_module"
    block = ModuleBlock([name, "json"], modules).block()
    # what is already imported is left alone
    assert block.blocked == (name,)
    assert is_blocked(name, modules) and not is_blocked("json", modules)
    block.release()
    assert name not in modules and modules["json"] is sys.modules["json"]
    assert block.blocked == ()


def test_a_blocked_module_raises_module_not_found_and_comes_back_after_release():
    name = "camservice_test_blockable"
    assert name not in sys.modules
    with ModuleBlock([name]):
        with pytest.raises(ModuleNotFoundError):
            __import__(name)
    assert name not in sys.modules


def test_release_keeps_a_module_imported_meanwhile():
    modules = {}
    block = ModuleBlock(["x"], modules).block()
    modules["x"] = object()  # someone put the real module there
    block.release()
    assert modules["x"] is not None


def test_chardet_is_kept_out_only_where_charset_normalizer_stands_in():
    def finder(*present):
        return lambda name: object() if name in present else None

    assert _unused_modules(finder("charset_normalizer", "chardet")) == ("cbor2", "chardet")
    # requests refuses to import with neither: chardet stays importable
    assert _unused_modules(finder("chardet")) == ("cbor2",)


def test_treq_speaks_http_with_chardet_kept_out():
    # treq 22.2 (Debian 12) imports requests, which then takes charset_normalizer
    code = (
        "import sys\n"
        "from camservice.ops.optional_modules import UNUSED_MODULES, ModuleBlock\n"
        "ModuleBlock(UNUSED_MODULES).block()\n"
        "import treq, treq.response\n"
        "from twisted.internet import reactor\n"
        "from twisted.web import resource, server, static\n"
        "root = resource.Resource()\n"
        "root.putChild(b'x', static.Data(b'ok', 'text/plain'))\n"
        "port = reactor.listenTCP(0, server.Site(root), interface='127.0.0.1')\n"
        "url = f'http://127.0.0.1:{port.getHost().port}/x'\n"
        "got = []\n"
        "d = treq.get(url).addCallback(treq.text_content).addBoth(got.append).addBoth(lambda _: reactor.stop())\n"
        "reactor.run()\n"
        "print(got[0], sys.modules.get('chardet') is not None)\n"
    )
    out = run_python(code)
    assert out.stdout.split() == ["ok", "False"]
    # requests 2.28 would warn about charset_normalizer 3 at import
    assert "supported version" not in out.stderr, out.stderr
