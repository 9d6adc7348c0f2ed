"""The module budget: resident memory (RSS) each group of imports costs.

    .venv/bin/python tests/bench/modules.py [--python PATH ...] [--repeat 3]

Each measurement runs in a fresh interpreter (``PATH -c``) that reads its
own VmRSS from /proc/self/status after each import group:

- ``service``: the groups in the order ``twistd camservice`` imports them,
  with the default configuration (TLS and the manhole off, so the TLS
  libraries, cryptography and cbor2 are kept out as
  :mod:`camservice.ops.optional_modules` does; Autobahn's WebSocket protocol
  through :mod:`camservice.server.ws_adapter`, not ``autobahn.twisted``);
  ``added_mb`` is what each group adds to the ones before it;
- ``service_tls``: the same with TLS on (only cbor2 kept out): the TLS
  libraries come with the reactor;
- ``not_imported_mb``: what libraries the service does not import by
  default (the manhole's conch) would add to it;
- ``alone``: each group imported alone into a fresh interpreter, minus the
  bare interpreter (groups share what they import, so these overlap);
- ``saved_mb``: what each choice saves, as the service's total RSS with the
  choice undone minus the total with it (one change at a time, the rest as
  shipped): ``autobahn_twisted`` (``autobahn.twisted``'s protocol and
  resource instead of the adapter, against the service with cryptography
  let in, which ``autobahn.twisted`` needs), ``cryptography`` (not kept out: PyJWT
  imports it), ``cbor2`` (not kept out: Autobahn's WAMP messages import it),
  ``tls_libraries`` (pyOpenSSL and service_identity not kept out: Twisted
  imports them with the reactor), ``chardet`` (not kept out: requests,
  which treq 22.2 imports, prefers it to charset_normalizer),
  ``jsonschema`` (imported with PyYAML to validate the params and the
  configuration, instead of camservice's own compiled validators,
  :mod:`camservice.schema`); and what a choice not taken would save:
  ``nvx_off`` (Autobahn's NVX accelerator kept out; it costs 18 ms to
  validate and 14 ms to unmask a 64 KiB message on Autobahn's general path
  without it, so it stays on).

Every figure is the median of ``--repeat`` runs. Prints progress to stderr
and one JSON object as the last line of stdout, one entry per Python.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Import groups by name, each a list of modules, in the service's order.
GROUPS = {
    "interpreter": [],
    "pyyaml": ["yaml"],
    "twisted_reactor": ["twisted.internet.reactor"],
    "twisted_web": ["twisted.web.server", "twisted.web.resource", "twisted.web.http", "twisted.web.client"],
    "treq": ["treq"],
    "autobahn": ["autobahn.websocket.protocol", "camservice.server.ws_adapter"],
    "pyjwt": ["jwt"],
    "prometheus_client": ["prometheus_client", "prometheus_client.twisted"],
    "pyudev": ["pyudev"],
    "camservice": ["camservice.tap", "camservice.app"],
}
#: What TLS on the API port adds (imported by camservice.security.tls).
TLS_GROUP = ["OpenSSL", "cryptography.x509", "service_identity", "twisted.internet.ssl",
             "twisted.protocols.tls", "camservice.security.tls"]
#: Choices that keep memory, each undone alone: the groups to use instead
#: (by name) and the modules no longer kept out.
#: ``autobahn.twisted`` needs cryptography (its WAMP layer), so it is
#: measured with cryptography let in, against the service with only that
#: undone.
CHOICES = {
    "jsonschema": ({"pyyaml": ["yaml", "jsonschema"]}, []),
    "autobahn_twisted": ({"autobahn": ["autobahn.twisted.websocket", "autobahn.twisted.resource"]},
                         ["cryptography", "bcrypt"]),
    "cryptography": ({}, ["cryptography", "bcrypt"]),
    "cbor2": ({}, ["cbor2"]),
    "tls_libraries": ({}, ["OpenSSL", "service_identity"]),
    "chardet": ({}, ["chardet"]),
}
#: Choices not taken: the modules that would be kept out as well.
NOT_TAKEN = {"nvx_off": ["_nvx_utf8validator", "_nvx_xormasker"]}
#: Libraries the service imports only for a feature that is off by
#: default, with what they would add to it: the manhole's conch.
NOT_IMPORTED = {"conch_manhole": ["twisted.conch.manhole_ssh", "twisted.conch.manhole"]}

#: Run in the fresh interpreter: argv[1] is a JSON spec
#: ``{"groups": [[name, [modules]]...], "keep_out": [names]}``.
_CHILD = r"""
import sys
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
spec = __import__("json").loads(sys.argv[1])
block = None
if spec["keep_out"]:
    from camservice.ops.optional_modules import ModuleBlock
    block = ModuleBlock(spec["keep_out"]).block()
out = []
for name, modules in spec["groups"]:
    for m in modules:
        __import__(m)
    out.append([name, rss()])
heavy = ["autobahn.twisted", "OpenSSL", "cryptography", "service_identity", "twisted.conch", "autobahn.wamp", "msgpack", "cbor2",
         "ujson", "orjson", "flatbuffers", "treq", "urllib.request", "http.client", "ssl"]
print(__import__("json").dumps({"rss": out, "loaded": [h for h in heavy if sys.modules.get(h) is not None],
                               "modules": len(sys.modules)}))
"""


def run_child(python: str, groups: list, keep_out: list) -> dict:
    spec = json.dumps({"groups": groups, "keep_out": keep_out})
    out = subprocess.run([python, "-c", _CHILD, spec], cwd=str(ROOT), capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"{python}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def chain(python: str, groups: list, keep_out: list, repeat: int) -> dict:
    runs = [run_child(python, groups, keep_out) for _ in range(repeat)]
    totals = [statistics.median(r["rss"][i][1] for r in runs) for i in range(len(groups))]
    rows, before = [], 0.0
    for (name, _), total in zip(groups, totals):
        rows.append({"group": name, "rss_mb": round(total, 2), "added_mb": round(total - before, 2)})
        before = total
    return {"groups": rows, "total_mb": round(totals[-1], 2), "loaded": runs[-1]["loaded"],
            "modules": runs[-1]["modules"]}


def kept_out_by(python: str) -> tuple[list, list]:
    """What the service keeps out under ``python``, always and with TLS off
    (``UNUSED_MODULES`` depends on what that Python has installed)."""
    code = ("import json; from camservice.ops.optional_modules import TLS_MODULES, UNUSED_MODULES; "
            "print(json.dumps([UNUSED_MODULES, TLS_MODULES]))")
    out = subprocess.run([python, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=60,
                         check=True)
    unused, tls = json.loads(out.stdout)
    return unused, unused + tls


def measure(python: str, repeat: int) -> dict:
    ordered = [[name, mods] for name, mods in GROUPS.items()]
    unused, kept_out = kept_out_by(python)
    result = {"python": python}
    print(f"{python}: service order, TLS off", file=sys.stderr, flush=True)
    result["service"] = chain(python, ordered, kept_out, repeat)
    shipped = result["service"]["total_mb"]
    totals = {}
    for name, (groups, let_in) in CHOICES.items():
        undone = [[g, groups.get(g, mods)] for g, mods in ordered]
        totals[name] = chain(python, undone, [m for m in kept_out if m not in let_in], repeat)["total_mb"]
    result["saved_mb"] = {name: round(total - shipped, 2) for name, total in totals.items()}
    result["saved_mb"]["autobahn_twisted"] = round(totals["autobahn_twisted"] - totals["cryptography"], 2)
    result["would_save_mb"] = {}
    for name, more in NOT_TAKEN.items():
        total = chain(python, ordered, kept_out + more, repeat)["total_mb"]
        result["would_save_mb"][name] = round(shipped - total, 2)
    print(f"{python}: service order, TLS on", file=sys.stderr, flush=True)
    result["service_tls"] = chain(python, ordered + [["tls", TLS_GROUP]], unused, repeat)
    result["not_imported_mb"] = {}
    for name, mods in NOT_IMPORTED.items():
        # the manhole on: nothing is kept out (conch needs the TLS libraries)
        total = chain(python, ordered + [[name, mods]], unused, repeat)
        result["not_imported_mb"][name] = total["groups"][-1]["added_mb"]
    base = result["service"]["groups"][0]["rss_mb"]
    alone = {}
    for name, mods in (list(GROUPS.items())[1:] + [("tls", TLS_GROUP)] + list(NOT_IMPORTED.items())
                       + [("jsonschema", ["jsonschema"])]):
        total = chain(python, [["interpreter", []], [name, mods]], [], repeat)["total_mb"]
        alone[name] = round(total - base, 2)
    result["alone_mb"] = alone
    for row in result["service"]["groups"]:
        print(f"  {row['group']:<18} +{row['added_mb']:6.2f} MB -> {row['rss_mb']:6.2f} MB"
              f"   (alone +{alone.get(row['group'], 0.0):.2f})", file=sys.stderr)
    print(f"  saved: {result['saved_mb']}; not taken: {result['would_save_mb']}", file=sys.stderr)
    print(f"  TLS on: {result['service_tls']['total_mb']} MB; kept out with TLS off: "
          f"{round(result['service_tls']['total_mb'] - result['service']['total_mb'], 2)} MB; "
          f"not imported: {result['not_imported_mb']}", file=sys.stderr, flush=True)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append",
                    help="interpreter to measure (repeatable; default: this one, and .venv-debian's if present)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure, the median is kept (default 3)")
    args = ap.parse_args(argv)
    pythons = args.python
    if not pythons:
        pythons = [sys.executable]
        debian = ROOT / ".venv-debian" / "bin" / "python"
        if debian.exists() and Path(sys.executable).parent.parent.resolve() != debian.parent.parent.resolve():
            pythons.append(str(debian))
    sys.path.insert(0, str(ROOT))
    out = {"bench": "modules", "runs": [measure(p, args.repeat) for p in pythons]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
